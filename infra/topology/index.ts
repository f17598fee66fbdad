export * from './model';
export * from './defaults';
export * from './parse';
export * from './derive';
export * from './connection-budget';
export * from './app-runtime';
