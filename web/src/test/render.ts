import { render } from "@testing-library/vue";
import { createMemoryHistory } from "vue-router";
import App from "../App.vue";
import { makeRouter, redirectOnUnauthorized } from "../router";

/** The whole console at path, with the real router (memory history). */
export async function renderApp(path: string) {
  const router = makeRouter(createMemoryHistory());
  redirectOnUnauthorized(router);
  await router.push(path);
  await router.isReady();
  const utils = render(App, { global: { plugins: [router] } });
  return { ...utils, router };
}
