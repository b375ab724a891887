// Writes a seeded regression data set as CSV: 8 features drawn from a standard normal distribution and a target
// y that depends on them nonlinearly, plus noise. One training file the peers split among themselves (iid) and a
// test file; the last line printed is the variance of y in the test file, the mean squared error of always
// predicting the mean.
//   node make-data.mjs <folder> [training rows] [test rows]
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const [folder = '.', trainArg = '3000', testArg = '1000'] = process.argv.slice(2)

// a seeded generator (mulberry32), so every run writes the same files
function random(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The function the peers learn: every feature counts, most of them nonlinearly. */
function target(x) {
  return (
    2 * Math.sin(x[0]) +
    x[1] * x[2] +
    0.5 * x[3] * x[3] -
    Math.abs(x[4]) +
    0.8 * x[5] +
    Math.tanh(2 * x[6] * x[7])
  )
}

function rows(count, seed) {
  const next = random(seed)
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())
  const lines = ['x1,x2,x3,x4,x5,x6,x7,x8,y']
  const ys = []
  for (let i = 0; i < count; i++) {
    const x = Array.from({ length: 8 }, normal)
    const y = target(x) + 0.1 * normal()
    ys.push(y)
    lines.push([...x.map((v) => v.toFixed(4)), y.toFixed(4)].join(','))
  }
  return { text: `${lines.join('\n')}\n`, ys }
}

mkdirSync(folder, { recursive: true })
writeFileSync(join(folder, 'train.csv'), rows(Number(trainArg), 1).text)
const test = rows(Number(testArg), 2)
writeFileSync(join(folder, 'test.csv'), test.text)
const mean = test.ys.reduce((a, b) => a + b, 0) / test.ys.length
const variance = test.ys.reduce((a, b) => a + (b - mean) ** 2, 0) / test.ys.length
process.stdout.write(`wrote train.csv (${trainArg} rows) and test.csv (${testArg} rows) to ${folder}\n`)
process.stdout.write(`${variance.toFixed(4)}\n`)
