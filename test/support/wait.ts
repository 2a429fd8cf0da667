/**
 * Polls `condition` every `pollMs` until it holds, or throws once `timeoutMs` has passed: a bounded
 * wait for something to happen, never a timing assertion.
 */
export async function waitFor (condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, pollMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, pollMs))
  }
}
