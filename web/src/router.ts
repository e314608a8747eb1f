import { createRouter, createWebHistory } from 'vue-router';
import LibraryView from './views/LibraryView.vue';

// Only the library ships in the first bundle; every other page loads on demand.
export const routes = [
  { path: '/', component: LibraryView },
  { path: '/episodes/:key', component: () => import('./views/EpisodeView.vue') },
  { path: '/search', component: () => import('./views/SearchView.vue') },
  { path: '/feeds', component: () => import('./views/FeedsView.vue') },
  { path: '/graph', component: () => import('./views/GraphView.vue') },
  { path: '/admin', component: () => import('./views/AdminView.vue') },
];

export const router = createRouter({ history: createWebHistory(), routes });
