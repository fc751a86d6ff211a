/**
 * Two independent reads at once (two path resolutions), with a deterministic refusal: when both
 * fail, the first one's error is the answer, whichever failed first in time.
 */
export async function settledPair<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b])
  if (ra.status === 'rejected') throw ra.reason
  if (rb.status === 'rejected') throw rb.reason
  return [ra.value, rb.value]
}
