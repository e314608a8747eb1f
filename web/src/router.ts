import { type RouteLocationNormalized, START_LOCATION, createRouter, createWebHistory } from 'vue-router';
import { prefetchEpisode } from './views/episode-reads';
import LibraryView from './views/LibraryView.vue';

const loadEpisodeView = () => import('./views/EpisodeView.vue');

// Only the library ships in the first bundle; every other page loads on demand.
const routes = [
  { path: '/', component: LibraryView, meta: { title: 'Library' } },
  // The episode's reads start here, in parallel with its chunk (the 3-hour page's first transcript line is a benchmark).
  {
    path: '/episodes/:key',
    component: loadEpisodeView,
    meta: { title: 'Episode' },
    beforeEnter: (to: RouteLocationNormalized) => {
      // A chunk gone after a deploy is the router's to handle (stale-build.ts) when it resolves the route: not an unhandled rejection here.
      loadEpisodeView().catch(() => undefined);
      prefetchEpisode(String(to.params.key));
    },
  },
  { path: '/search', component: () => import('./views/SearchView.vue'), meta: { title: 'Search' } },
  { path: '/feeds', component: () => import('./views/FeedsView.vue'), meta: { title: 'Feeds' } },
  { path: '/feeds/:id', component: () => import('./views/FeedView.vue'), meta: { title: 'Feed' } },
  { path: '/digests', component: () => import('./views/DigestView.vue'), meta: { title: 'Digest' } },
  // The link a digest's notification and its RSS items carry (<PUBLIC_URL>/digests/<id>).
  { path: '/digests/:id', component: () => import('./views/DigestView.vue'), meta: { title: 'Digest' } },
  { path: '/saved-searches', component: () => import('./views/SavedSearchesView.vue'), meta: { title: 'Saved searches' } },
  { path: '/graph', component: () => import('./views/GraphView.vue'), meta: { title: 'Graph' } },
  { path: '/incidents', component: () => import('./views/IncidentsView.vue'), meta: { title: 'Incidents' } },
  // The link an incident's notifications carry (<PUBLIC_URL>/incidents/<id>).
  { path: '/incidents/:id', component: () => import('./views/IncidentsView.vue'), meta: { title: 'Incident' } },
  { path: '/admin', component: () => import('./views/AdminView.vue'), meta: { title: 'Admin' } },
];

export const router = createRouter({ history: createWebHistory(import.meta.env.BASE_URL), routes });

// A client-side navigation is silent for screen readers: name the page and move focus to
// it, as a full page load would. Not on the first load (the skip link comes first there),
// and not when only the query changes (search as you type keeps focus in the box).
router.afterEach((to, from) => {
  document.title = to.meta.title ? `${String(to.meta.title)} · podbrain` : 'podbrain';
  if (from === START_LOCATION || to.path === from.path) return;
  requestAnimationFrame(() => document.getElementById('main')?.focus({ preventScroll: true }));
});
