export * from './cluster.js';
export * from './majors.js';
export * from './os-user.js';
export * from './tcp-proxy.js';
export * from './split-backup.js';
