export * from './bootstrap';
export * from './mail-identity';
export * from './mail-relay-stack';
export * from './ses-relay';
export * from './ses-relay-hub';
export * from './ses-smtp-credentials';
export * from './smtp';
