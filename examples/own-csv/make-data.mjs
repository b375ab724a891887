// Writes a small 3-class CSV data set: each row is two coordinates (0..100) near one of three centres, the class in
// the last column. One training file per peer (its private data) and a shared test file. The header's fields are
// quoted: one holds the delimiter, one a quote.
//   node make-data.mjs <folder> [peers] [rows per peer]
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const [folder = '.', peersArg = '3', rowsArg = '1000'] = process.argv.slice(2)
const CENTRES = [
  [25, 30],
  [70, 25],
  [50, 75],
]

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

function rows(count, seed) {
  const next = random(seed)
  // a normal draw (Box–Muller), spread 12 around the centre
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()) * 12
  const lines = ['"x, east","y ""north""",class']
  for (let i = 0; i < count; i++) {
    const label = Math.floor(next() * CENTRES.length)
    const [cx, cy] = CENTRES[label]
    lines.push(`${(cx + normal()).toFixed(2)},${(cy + normal()).toFixed(2)},${label}`)
  }
  return `${lines.join('\n')}\n`
}

mkdirSync(folder, { recursive: true })
const peers = Number(peersArg)
for (let i = 0; i < peers; i++) writeFileSync(join(folder, `train-${i}.csv`), rows(Number(rowsArg), i + 1))
writeFileSync(join(folder, 'test.csv'), rows(600, 1000))
process.stdout.write(
  `wrote ${peers} training files of ${rowsArg} rows and test.csv (600 rows) to ${folder}\n`,
)
