import { describe, expect, it } from 'vitest'
import { opposedToMedian } from './screen.js'
import type { FlTask, FlUpdate } from './types.js'

function update(client: string, values: number[], task: FlTask = 'train'): FlUpdate {
  return { client, vector: Float32Array.from(values), samples: 10, baseRound: 0, task }
}

describe('opposedToMedian', () => {
  it('names the updates pointing away from the coordinate-wise median, and keeps honest ones that merely differ', () => {
    const honest = [
      update('a', [1, 0.2, 0.5]),
      update('b', [0.8, -0.3, 0.6]),
      update('c', [1.2, 0.1, -0.1]),
      update('d', [0.1, 0.9, 0.4]),
    ]
    // sign-flipped ×10 (of a's update), and an update that undoes the others' common direction
    const flipped = update('x', [-10, -2, -5])
    const reversed = update('y', [-0.9, 0.1, -0.5])
    expect(opposedToMedian([...honest, flipped, reversed]).sort()).toEqual(['x', 'y'])
    expect(opposedToMedian(honest)).toEqual([])
  })

  it('judges each task among its own updates, and needs three of a kind', () => {
    const train = [update('a', [1, 1]), update('b', [1, 0.5]), update('c', [-1, -1])]
    // two anchors pointing anywhere are not judged (neither is a majority), nor against the trainers
    const anchors = [update('p', [-5, -5], 'anchor'), update('q', [5, 5], 'anchor')]
    expect(opposedToMedian([...train, ...anchors])).toEqual(['c'])
    expect(opposedToMedian([update('a', [1]), update('b', [-1])])).toEqual([])
  })

  it('drops nothing when the median is zero', () => {
    const updates = [update('a', [1, 0]), update('b', [0, 0]), update('c', [-1, 0])]
    expect(opposedToMedian(updates)).toEqual([])
  })
})
