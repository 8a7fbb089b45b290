import { createRouter, createWebHistory, type Router, type RouterHistory } from "vue-router";
import { auth } from "./stores/auth";
import { setUnauthorizedHandler } from "./api/client";
import OverviewPage from "./pages/OverviewPage.vue";

// The overview is in the first bundle; every other page loads on demand.
export const routes = [
  { path: "/", name: "overview", component: OverviewPage },
  { path: "/signin", name: "signin", component: () => import("./pages/SignInPage.vue"), meta: { public: true } },
  { path: "/jobs", name: "jobs", component: () => import("./pages/JobsPage.vue") },
  { path: "/jobs/:id(\\d+)", name: "job", component: () => import("./pages/JobPage.vue"), props: true },
  { path: "/webhooks", name: "webhooks", component: () => import("./pages/WebhooksPage.vue") },
  { path: "/webhooks/:id", name: "receipt", component: () => import("./pages/ReceiptPage.vue"), props: true },
  { path: "/stats", name: "stats", component: () => import("./pages/StatsPage.vue") },
  { path: "/:rest(.*)*", name: "not-found", component: () => import("./pages/NotFoundPage.vue"), meta: { public: true } },
];

export function makeRouter(history: RouterHistory = createWebHistory()): Router {
  const router = createRouter({ history, routes });
  router.beforeEach(async (to) => {
    if (to.meta.public === true) return true;
    if (auth.mode === "unknown") {
      try {
        await auth.check();
      } catch {
        return true; // the page shows the error (server unreachable, say)
      }
    }
    // A job's watch token reads that job without signing in.
    const watching = to.name === "job" && typeof to.query.watch_token === "string";
    if (auth.mode === "signed-out" && !watching) return { name: "signin", query: { next: to.fullPath } };
    return true;
  });
  return router;
}

/** Any 401: signed out; to sign-in, then back to where the user was. */
export function redirectOnUnauthorized(router: Router): void {
  setUnauthorizedHandler(() => {
    const hadSession = auth.mode === "session";
    auth.markSignedOut();
    const here = router.currentRoute.value;
    // ended: the sign-in page says why the user is there.
    if (here.name !== "signin") void router.push({ name: "signin", query: { next: here.fullPath, ...(hadSession ? { ended: "1" } : {}) } });
  });
}
