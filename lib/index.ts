export * from './bootstrap';
export * from './ses-smtp-credentials';
export * from './smtp';
