/** What a tensor of the model is for: aggregation rules treat kernels, biases and normalisation statistics apart. */
export type ParamRole = 'weight' | 'bias' | 'norm'

/** Where each tensor of the model sits in the flat parameter vector, in canonical (declaration) order. */
export type ParamLayout = readonly {
  readonly name: string
  readonly offset: number
  readonly length: number
  readonly shape: readonly number[]
  readonly role: ParamRole
}[]
