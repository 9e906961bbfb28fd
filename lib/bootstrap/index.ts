// The Postfix bootstrap generator: pure functions, no AWS calls, no CDK.
export * from './options';
export * from './program';
export * from './render';
