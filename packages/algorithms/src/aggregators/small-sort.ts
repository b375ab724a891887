/**
 * In-place ascending sorts of the first `n` entries of small float64 buffers, for per-coordinate order statistics
 * (tens of values per coordinate, a million coordinates): no allocation, no comparator calls. Insertion sort,
 * preceded by Shell passes with Ciura's gaps when n > SHELL_FROM (measured: for ~20 values plain insertion is
 * about 1.7x faster than with a gap-4 pass). Inputs are finite (validated earlier).
 */
const GAPS = [701, 301, 132, 57, 23, 10, 4]
const SHELL_FROM = 48

/** Sorts values[0..n). */
export function sortValues(values: Float64Array, n: number): void {
  for (const gap of GAPS) {
    if (n <= SHELL_FROM || gap * 2 > n) continue
    for (let i = gap; i < n; i++) {
      const v = values[i] as number
      let k = i
      while (k >= gap && (values[k - gap] as number) > v) {
        values[k] = values[k - gap] as number
        k -= gap
      }
      values[k] = v
    }
  }
  for (let i = 1; i < n; i++) {
    const v = values[i] as number
    let k = i
    while (k >= 1 && (values[k - 1] as number) > v) {
      values[k] = values[k - 1] as number
      k--
    }
    values[k] = v
  }
}

/** Sorts values[0..n) and moves weights[0..n) along with them. */
export function sortPairs(values: Float64Array, weights: Float64Array, n: number): void {
  for (const gap of GAPS) {
    if (n <= SHELL_FROM || gap * 2 > n) continue
    for (let i = gap; i < n; i++) {
      const v = values[i] as number
      const w = weights[i] as number
      let k = i
      while (k >= gap && (values[k - gap] as number) > v) {
        values[k] = values[k - gap] as number
        weights[k] = weights[k - gap] as number
        k -= gap
      }
      values[k] = v
      weights[k] = w
    }
  }
  for (let i = 1; i < n; i++) {
    const v = values[i] as number
    const w = weights[i] as number
    let k = i
    while (k >= 1 && (values[k - 1] as number) > v) {
      values[k] = values[k - 1] as number
      weights[k] = weights[k - 1] as number
      k--
    }
    values[k] = v
    weights[k] = w
  }
}
