// Leaving the console for a page the server serves beside it (River UI):
// a full page load, not a route. One object, so tests can watch it (jsdom
// cannot navigate, and its location cannot be replaced).
export const browser = {
  load(path: string): void {
    window.location.assign(path);
  },
};
