/**
 * When to look at each pending batch next: a min-heap of (instant, item),
 * earliest first, ties in the order they were set. One timer fiber sleeps
 * until the earliest alarm instead of one fiber per batch, so a flood over
 * thousands of batch keys holds one sleeping fiber, not thousands.
 *
 * A batch's deadline only moves later (each message pushes the quiet
 * deadline, never past the hard one), so an alarm is set once per batch
 * and may ring early: whoever takes it looks at the batch again and sets
 * a later one if it is not due yet.
 *
 * Pure data, no I/O and no clock.
 */

interface Entry<A> {
  readonly at: number
  readonly order: number
  readonly item: A
}

const before = <A>(a: Entry<A>, b: Entry<A>) => a.at < b.at || (a.at === b.at && a.order < b.order)

/** Alarms over items of type `A`, earliest first. */
export class Alarms<A> {
  private readonly heap: Array<Entry<A>> = []
  private set = 0

  /** How many alarms are set. */
  get size(): number {
    return this.heap.length
  }

  /** The earliest instant an alarm is set for, if any. */
  get next(): number | undefined {
    return this.heap[0]?.at
  }

  /** Sets an alarm for `item` at `at`. */
  add(at: number, item: A): void {
    const heap = this.heap
    heap.push({ at, order: this.set++, item })
    let index = heap.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!before(heap[index] as Entry<A>, heap[parent] as Entry<A>)) break
      ;[heap[index], heap[parent]] = [heap[parent] as Entry<A>, heap[index] as Entry<A>]
      index = parent
    }
  }

  /** Takes the earliest alarm if it is set for `now` or before. */
  takeDue(now: number): A | undefined {
    const heap = this.heap
    const first = heap[0]
    if (first === undefined || first.at > now) return undefined
    const last = heap.pop() as Entry<A>
    if (heap.length > 0) {
      heap[0] = last
      let index = 0
      while (true) {
        const left = 2 * index + 1
        const right = left + 1
        let smallest = index
        if (left < heap.length && before(heap[left] as Entry<A>, heap[smallest] as Entry<A>)) smallest = left
        if (right < heap.length && before(heap[right] as Entry<A>, heap[smallest] as Entry<A>)) smallest = right
        if (smallest === index) break
        ;[heap[index], heap[smallest]] = [heap[smallest] as Entry<A>, heap[index] as Entry<A>]
        index = smallest
      }
    }
    return first.item
  }

  /** Removes every alarm. */
  clear(): void {
    this.heap.length = 0
  }
}
