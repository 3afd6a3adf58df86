export * from './cluster.js';
export * from './majors.js';
export * from './os-user.js';
