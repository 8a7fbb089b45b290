import { createApp } from "vue";
import App from "./App.vue";
import { makeRouter, redirectOnUnauthorized } from "./router";
import "./styles.css";

const router = makeRouter();
redirectOnUnauthorized(router);
createApp(App).use(router).mount("#app");
