export { EXIT } from './exit-codes.js'
export { main, reportError } from './main.js'
export { PALETTE, renderLineChart, type Series } from './plot/chart.js'
