// SMTP facts shared by the CLI, the generator, the constructs and the handler.
export * from './endpoints';
export * from './password';
