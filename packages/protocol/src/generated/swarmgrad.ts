// Generated from proto/swarmgrad.proto by `pnpm --filter @swarmgrad/protocol gen`
// (pbjs -t json, then scripts/gen-ts.mjs). Do not edit by hand.

/** The protobufjs JSON descriptor of package swarmgrad.v2, loaded at run time with reflection. */
export const SWARMGRAD_DESCRIPTOR = {
  "nested": {
    "swarmgrad": {
      "nested": {
        "v2": {
          "nested": {
            "MessageKind": {
              "values": {
                "MESSAGE_KIND_UNSPECIFIED": 0,
                "MESSAGE_KIND_MODEL_ANNOUNCEMENT": 1,
                "MESSAGE_KIND_MODEL_PAYLOAD_HEADER": 2,
                "MESSAGE_KIND_TENSOR": 4,
                "MESSAGE_KIND_MEMBERSHIP_VIEW": 5,
                "MESSAGE_KIND_PING": 6,
                "MESSAGE_KIND_PONG": 7,
                "MESSAGE_KIND_AGGREGATION_ACK": 8,
                "MESSAGE_KIND_SPSA_SCALAR_BATCH": 9,
                "MESSAGE_KIND_ROUND_CLOCK": 10,
                "MESSAGE_KIND_RUN_CONFIG": 11,
                "MESSAGE_KIND_SNAPSHOT_HEADER": 12
              },
              "reserved": [
                [
                  3,
                  3
                ],
                "MESSAGE_KIND_MODEL_CHUNK"
              ]
            },
            "DType": {
              "values": {
                "DTYPE_UNSPECIFIED": 0,
                "DTYPE_FLOAT32": 1
              }
            },
            "TensorCodec": {
              "values": {
                "TENSOR_CODEC_UNSPECIFIED": 0,
                "TENSOR_CODEC_FLOAT32": 1,
                "TENSOR_CODEC_FLOAT16": 2,
                "TENSOR_CODEC_INT8_BLOCK": 3,
                "TENSOR_CODEC_TOP_K": 4,
                "TENSOR_CODEC_RANDOM_K": 5,
                "TENSOR_CODEC_SPSA_BYTE": 6
              }
            },
            "ModelRole": {
              "values": {
                "MODEL_ROLE_UNSPECIFIED": 0,
                "MODEL_ROLE_TRAINED": 1,
                "MODEL_ROLE_AGGREGATED": 2,
                "MODEL_ROLE_DELTA": 3,
                "MODEL_ROLE_SNAPSHOT": 4
              }
            },
            "PeerStatus": {
              "values": {
                "PEER_STATUS_UNSPECIFIED": 0,
                "PEER_STATUS_JOIN": 1,
                "PEER_STATUS_LEAVE": 2
              }
            },
            "RunMode": {
              "values": {
                "RUN_MODE_UNSPECIFIED": 0,
                "RUN_MODE_GOSSIP": 1,
                "RUN_MODE_MODEST": 2,
                "RUN_MODE_SPSA": 3,
                "RUN_MODE_FL": 4
              }
            },
            "Envelope": {
              "oneofs": {
                "body": {
                  "oneof": [
                    "modelAnnouncement",
                    "modelPayloadHeader",
                    "tensor",
                    "membershipView",
                    "ping",
                    "pong",
                    "aggregationAck",
                    "spsaScalarBatch",
                    "roundClock",
                    "runConfig",
                    "snapshotHeader"
                  ]
                }
              },
              "fields": {
                "version": {
                  "type": "uint32",
                  "id": 1
                },
                "runId": {
                  "type": "string",
                  "id": 2,
                  "protoName": "run_id"
                },
                "round": {
                  "type": "uint32",
                  "id": 3
                },
                "sender": {
                  "type": "bytes",
                  "id": 4
                },
                "kind": {
                  "type": "MessageKind",
                  "id": 5
                },
                "modelHash": {
                  "type": "bytes",
                  "id": 6,
                  "protoName": "model_hash"
                },
                "modelAnnouncement": {
                  "type": "ModelAnnouncement",
                  "id": 10,
                  "protoName": "model_announcement"
                },
                "modelPayloadHeader": {
                  "type": "ModelPayloadHeader",
                  "id": 11,
                  "protoName": "model_payload_header"
                },
                "tensor": {
                  "type": "Tensor",
                  "id": 13
                },
                "membershipView": {
                  "type": "MembershipView",
                  "id": 14,
                  "protoName": "membership_view"
                },
                "ping": {
                  "type": "Ping",
                  "id": 15
                },
                "pong": {
                  "type": "Pong",
                  "id": 16
                },
                "aggregationAck": {
                  "type": "AggregationAck",
                  "id": 17,
                  "protoName": "aggregation_ack"
                },
                "spsaScalarBatch": {
                  "type": "SpsaScalarBatch",
                  "id": 18,
                  "protoName": "spsa_scalar_batch"
                },
                "roundClock": {
                  "type": "RoundClock",
                  "id": 19,
                  "protoName": "round_clock"
                },
                "runConfig": {
                  "type": "RunConfig",
                  "id": 20,
                  "protoName": "run_config"
                },
                "snapshotHeader": {
                  "type": "SnapshotHeader",
                  "id": 21,
                  "protoName": "snapshot_header"
                }
              },
              "reserved": [
                [
                  12,
                  12
                ],
                "model_chunk"
              ]
            },
            "ModelAnnouncement": {
              "fields": {
                "round": {
                  "type": "uint32",
                  "id": 1
                },
                "byteSize": {
                  "type": "uint32",
                  "id": 2,
                  "protoName": "byte_size"
                },
                "payloadHash": {
                  "type": "bytes",
                  "id": 3,
                  "protoName": "payload_hash"
                },
                "codec": {
                  "type": "TensorCodec",
                  "id": 4
                },
                "paramCount": {
                  "type": "uint32",
                  "id": 5,
                  "protoName": "param_count"
                },
                "sampleCount": {
                  "type": "uint32",
                  "id": 6,
                  "protoName": "sample_count"
                },
                "role": {
                  "type": "ModelRole",
                  "id": 7
                }
              }
            },
            "ModelPayloadHeader": {
              "fields": {
                "round": {
                  "type": "uint32",
                  "id": 1
                },
                "byteSize": {
                  "type": "uint32",
                  "id": 2,
                  "protoName": "byte_size"
                },
                "payloadHash": {
                  "type": "bytes",
                  "id": 3,
                  "protoName": "payload_hash"
                },
                "codec": {
                  "type": "TensorCodec",
                  "id": 6
                },
                "paramCount": {
                  "type": "uint32",
                  "id": 7,
                  "protoName": "param_count"
                },
                "sampleCount": {
                  "type": "uint32",
                  "id": 8,
                  "protoName": "sample_count"
                },
                "role": {
                  "type": "ModelRole",
                  "id": 9
                },
                "view": {
                  "type": "MembershipView",
                  "id": 10
                },
                "evaluate": {
                  "type": "bool",
                  "id": 11
                }
              },
              "reserved": [
                [
                  4,
                  4
                ],
                [
                  5,
                  5
                ],
                "chunk_size",
                "chunk_count"
              ]
            },
            "Tensor": {
              "fields": {
                "dtype": {
                  "type": "DType",
                  "id": 1
                },
                "shape": {
                  "rule": "repeated",
                  "type": "uint32",
                  "id": 2
                },
                "codec": {
                  "type": "TensorCodec",
                  "id": 3
                },
                "length": {
                  "type": "uint32",
                  "id": 4
                },
                "blockSize": {
                  "type": "uint32",
                  "id": 5,
                  "protoName": "block_size"
                },
                "gridOffset": {
                  "type": "float",
                  "id": 6,
                  "protoName": "grid_offset"
                },
                "seed": {
                  "type": "bytes",
                  "id": 7
                },
                "scales": {
                  "type": "bytes",
                  "id": 8
                },
                "indices": {
                  "type": "bytes",
                  "id": 9
                },
                "padding": {
                  "type": "bytes",
                  "id": 10
                },
                "data": {
                  "type": "bytes",
                  "id": 11
                }
              }
            },
            "ViewEntry": {
              "fields": {
                "peerId": {
                  "type": "bytes",
                  "id": 1,
                  "protoName": "peer_id"
                },
                "lastRound": {
                  "type": "uint32",
                  "id": 2,
                  "protoName": "last_round"
                },
                "counter": {
                  "type": "uint32",
                  "id": 3
                },
                "status": {
                  "type": "PeerStatus",
                  "id": 4
                },
                "addrs": {
                  "rule": "repeated",
                  "type": "bytes",
                  "id": 5
                }
              }
            },
            "MembershipView": {
              "fields": {
                "entries": {
                  "rule": "repeated",
                  "type": "ViewEntry",
                  "id": 1
                }
              }
            },
            "Ping": {
              "fields": {
                "nonce": {
                  "type": "fixed32",
                  "id": 1
                },
                "roundEstimate": {
                  "type": "uint32",
                  "id": 2,
                  "protoName": "round_estimate"
                }
              }
            },
            "Pong": {
              "fields": {
                "nonce": {
                  "type": "fixed32",
                  "id": 1
                },
                "roundEstimate": {
                  "type": "uint32",
                  "id": 2,
                  "protoName": "round_estimate"
                }
              }
            },
            "AggregationAck": {
              "fields": {
                "round": {
                  "type": "uint32",
                  "id": 1
                },
                "payloadHash": {
                  "type": "bytes",
                  "id": 2,
                  "protoName": "payload_hash"
                },
                "accepted": {
                  "type": "bool",
                  "id": 3
                },
                "rejectCode": {
                  "type": "string",
                  "id": 4,
                  "protoName": "reject_code"
                }
              }
            },
            "SpsaScalarBatch": {
              "fields": {
                "scalars": {
                  "type": "bytes",
                  "id": 4
                }
              },
              "reserved": [
                [
                  1,
                  1
                ],
                [
                  2,
                  2
                ],
                [
                  3,
                  3
                ],
                [
                  5,
                  5
                ],
                [
                  6,
                  6
                ],
                "round",
                "sender",
                "count",
                "grid_offset",
                "model_hash"
              ]
            },
            "RoundClock": {
              "fields": {
                "round": {
                  "type": "uint32",
                  "id": 1
                },
                "startedAtMs": {
                  "type": "double",
                  "id": 2,
                  "protoName": "started_at_ms"
                },
                "roundDurationMs": {
                  "type": "uint32",
                  "id": 3,
                  "protoName": "round_duration_ms"
                }
              }
            },
            "HyperParameter": {
              "oneofs": {
                "value": {
                  "oneof": [
                    "number",
                    "text",
                    "flag"
                  ]
                }
              },
              "fields": {
                "name": {
                  "type": "string",
                  "id": 1
                },
                "number": {
                  "type": "double",
                  "id": 2
                },
                "text": {
                  "type": "string",
                  "id": 3
                },
                "flag": {
                  "type": "bool",
                  "id": 4
                }
              }
            },
            "RunConfig": {
              "fields": {
                "runId": {
                  "type": "string",
                  "id": 1,
                  "protoName": "run_id"
                },
                "mode": {
                  "type": "RunMode",
                  "id": 2
                },
                "hyperParameters": {
                  "rule": "repeated",
                  "type": "HyperParameter",
                  "id": 3,
                  "protoName": "hyper_parameters"
                },
                "architectureJson": {
                  "type": "string",
                  "id": 4,
                  "protoName": "architecture_json"
                }
              }
            },
            "LayerShape": {
              "fields": {
                "name": {
                  "type": "string",
                  "id": 1
                },
                "shape": {
                  "rule": "repeated",
                  "type": "uint32",
                  "id": 2
                }
              }
            },
            "SnapshotHeader": {
              "fields": {
                "round": {
                  "type": "uint32",
                  "id": 1
                },
                "modelHash": {
                  "type": "bytes",
                  "id": 2,
                  "protoName": "model_hash"
                },
                "paramCount": {
                  "type": "uint32",
                  "id": 3,
                  "protoName": "param_count"
                },
                "layers": {
                  "rule": "repeated",
                  "type": "LayerShape",
                  "id": 4
                },
                "codec": {
                  "type": "TensorCodec",
                  "id": 5
                },
                "byteSize": {
                  "type": "uint32",
                  "id": 6,
                  "protoName": "byte_size"
                },
                "payloadHash": {
                  "type": "bytes",
                  "id": 7,
                  "protoName": "payload_hash"
                }
              }
            }
          }
        }
      }
    }
  }
}

/** Fully qualified proto package of every type below. */
export const PROTO_PACKAGE = 'swarmgrad.v2'

/** proto enum swarmgrad.v2.MessageKind (values without the MESSAGE_KIND_ prefix). */
export const MessageKind = {
  UNSPECIFIED: 0,
  MODEL_ANNOUNCEMENT: 1,
  MODEL_PAYLOAD_HEADER: 2,
  TENSOR: 4,
  MEMBERSHIP_VIEW: 5,
  PING: 6,
  PONG: 7,
  AGGREGATION_ACK: 8,
  SPSA_SCALAR_BATCH: 9,
  ROUND_CLOCK: 10,
  RUN_CONFIG: 11,
  SNAPSHOT_HEADER: 12,
} as const
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind]

/** proto enum swarmgrad.v2.DType (values without the DTYPE_ prefix). */
export const DType = {
  UNSPECIFIED: 0,
  FLOAT32: 1,
} as const
export type DType = (typeof DType)[keyof typeof DType]

/** proto enum swarmgrad.v2.TensorCodec (values without the TENSOR_CODEC_ prefix). */
export const TensorCodec = {
  UNSPECIFIED: 0,
  FLOAT32: 1,
  FLOAT16: 2,
  INT8_BLOCK: 3,
  TOP_K: 4,
  RANDOM_K: 5,
  SPSA_BYTE: 6,
} as const
export type TensorCodec = (typeof TensorCodec)[keyof typeof TensorCodec]

/** proto enum swarmgrad.v2.ModelRole (values without the MODEL_ROLE_ prefix). */
export const ModelRole = {
  UNSPECIFIED: 0,
  TRAINED: 1,
  AGGREGATED: 2,
  DELTA: 3,
  SNAPSHOT: 4,
} as const
export type ModelRole = (typeof ModelRole)[keyof typeof ModelRole]

/** proto enum swarmgrad.v2.PeerStatus (values without the PEER_STATUS_ prefix). */
export const PeerStatus = {
  UNSPECIFIED: 0,
  JOIN: 1,
  LEAVE: 2,
} as const
export type PeerStatus = (typeof PeerStatus)[keyof typeof PeerStatus]

/** proto enum swarmgrad.v2.RunMode (values without the RUN_MODE_ prefix). */
export const RunMode = {
  UNSPECIFIED: 0,
  GOSSIP: 1,
  MODEST: 2,
  SPSA: 3,
  FL: 4,
} as const
export type RunMode = (typeof RunMode)[keyof typeof RunMode]

/** oneof body of Envelope: exactly one case, or undefined when none is set. */
export type EnvelopeBody =
  | { case: 'modelAnnouncement'; value: ModelAnnouncement }
  | { case: 'modelPayloadHeader'; value: ModelPayloadHeader }
  | { case: 'tensor'; value: Tensor }
  | { case: 'membershipView'; value: MembershipView }
  | { case: 'ping'; value: Ping }
  | { case: 'pong'; value: Pong }
  | { case: 'aggregationAck'; value: AggregationAck }
  | { case: 'spsaScalarBatch'; value: SpsaScalarBatch }
  | { case: 'roundClock'; value: RoundClock }
  | { case: 'runConfig'; value: RunConfig }
  | { case: 'snapshotHeader'; value: SnapshotHeader }

/** proto message swarmgrad.v2.Envelope. */
export interface Envelope {
  version: number
  runId: string
  round: number
  sender: Uint8Array
  kind: MessageKind
  modelHash: Uint8Array
  body?: EnvelopeBody
}

/** proto message swarmgrad.v2.ModelAnnouncement. */
export interface ModelAnnouncement {
  round: number
  byteSize: number
  payloadHash: Uint8Array
  codec: TensorCodec
  paramCount: number
  sampleCount: number
  role: ModelRole
}

/** proto message swarmgrad.v2.ModelPayloadHeader. */
export interface ModelPayloadHeader {
  round: number
  byteSize: number
  payloadHash: Uint8Array
  codec: TensorCodec
  paramCount: number
  sampleCount: number
  role: ModelRole
  view?: MembershipView
  evaluate: boolean
}

/** proto message swarmgrad.v2.Tensor. */
export interface Tensor {
  dtype: DType
  shape: number[]
  codec: TensorCodec
  length: number
  blockSize: number
  gridOffset: number
  seed: Uint8Array
  scales: Uint8Array
  indices: Uint8Array
  padding: Uint8Array
  data: Uint8Array
}

/** proto message swarmgrad.v2.ViewEntry. */
export interface ViewEntry {
  peerId: Uint8Array
  lastRound: number
  counter: number
  status: PeerStatus
  addrs: Uint8Array[]
}

/** proto message swarmgrad.v2.MembershipView. */
export interface MembershipView {
  entries: ViewEntry[]
}

/** proto message swarmgrad.v2.Ping. */
export interface Ping {
  nonce: number
  roundEstimate: number
}

/** proto message swarmgrad.v2.Pong. */
export interface Pong {
  nonce: number
  roundEstimate: number
}

/** proto message swarmgrad.v2.AggregationAck. */
export interface AggregationAck {
  round: number
  payloadHash: Uint8Array
  accepted: boolean
  rejectCode: string
}

/** proto message swarmgrad.v2.SpsaScalarBatch. */
export interface SpsaScalarBatch {
  scalars: Uint8Array
}

/** proto message swarmgrad.v2.RoundClock. */
export interface RoundClock {
  round: number
  startedAtMs: number
  roundDurationMs: number
}

/** oneof value of HyperParameter: exactly one case, or undefined when none is set. */
export type HyperParameterValue =
  | { case: 'number'; value: number }
  | { case: 'text'; value: string }
  | { case: 'flag'; value: boolean }

/** proto message swarmgrad.v2.HyperParameter. */
export interface HyperParameter {
  name: string
  value?: HyperParameterValue
}

/** proto message swarmgrad.v2.RunConfig. */
export interface RunConfig {
  runId: string
  mode: RunMode
  hyperParameters: HyperParameter[]
  architectureJson: string
}

/** proto message swarmgrad.v2.LayerShape. */
export interface LayerShape {
  name: string
  shape: number[]
}

/** proto message swarmgrad.v2.SnapshotHeader. */
export interface SnapshotHeader {
  round: number
  modelHash: Uint8Array
  paramCount: number
  layers: LayerShape[]
  codec: TensorCodec
  byteSize: number
  payloadHash: Uint8Array
}

/** Every message type of the schema, by proto name. */
export interface MessageTypes {
  Envelope: Envelope
  ModelAnnouncement: ModelAnnouncement
  ModelPayloadHeader: ModelPayloadHeader
  Tensor: Tensor
  ViewEntry: ViewEntry
  MembershipView: MembershipView
  Ping: Ping
  Pong: Pong
  AggregationAck: AggregationAck
  SpsaScalarBatch: SpsaScalarBatch
  RoundClock: RoundClock
  HyperParameter: HyperParameter
  RunConfig: RunConfig
  LayerShape: LayerShape
  SnapshotHeader: SnapshotHeader
}
export type MessageName = keyof MessageTypes

/** Names of all message types, in schema order. */
export const MESSAGE_NAMES: readonly MessageName[] = [
  'Envelope',
  'ModelAnnouncement',
  'ModelPayloadHeader',
  'Tensor',
  'ViewEntry',
  'MembershipView',
  'Ping',
  'Pong',
  'AggregationAck',
  'SpsaScalarBatch',
  'RoundClock',
  'HyperParameter',
  'RunConfig',
  'LayerShape',
  'SnapshotHeader',
]
