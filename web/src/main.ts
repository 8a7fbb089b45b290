import { createApp } from "vue";
import App from "./App.vue";
import { makeRouter } from "./router";
import { setUnauthorizedHandler } from "./api/client";
import { auth } from "./stores/auth";
import "./styles.css";

const router = makeRouter();
// Any 401: signed out; back to sign-in, then to where the user was.
setUnauthorizedHandler(() => {
  auth.markSignedOut();
  const here = router.currentRoute.value;
  if (here.name !== "signin") void router.push({ name: "signin", query: { next: here.fullPath } });
});
createApp(App).use(router).mount("#app");
