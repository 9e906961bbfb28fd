// AWS SDK errors by name, whichever client threw them: shared by the credentials handlers and the
// CLI's doctor.

/** The error's name (`Error` when it has none). */
export function errorName(err: unknown): string {
  return (err as { name?: string }).name ?? 'Error';
}

/** "No such entity": the key, the user or the thing asked about does not exist (any more). */
export function isGone(err: unknown): boolean {
  return ['NoSuchEntityException', 'NoSuchEntity', 'NotFoundException'].includes(errorName(err));
}
