;; The finiteness check behind firstNonFinite (src/codecs/finite.ts), with 128-bit SIMD.
;; JS copies up to 64 KiB of float32 values into `memory` (one page, never grown) and calls
;; nonFinite(bytes), bytes a multiple of 64. A float32 is NaN or ±Infinity exactly when its eight exponent bits
;; are all ones, so each lane of (x & 0x7f800000) == 0x7f800000 marks one; the marks are or-ed into one
;; accumulator, four vectors per step, and the result is 1 when any lane was marked.
;; Build: pnpm --filter @swarmgrad/protocol gen (writes src/generated/finite-wasm.ts).
(module
  (memory (export "memory") 1)
  (func (export "nonFinite") (param $bytes i32) (result i32)
    (local $i i32)
    (local $marks v128)
    (local $exponent v128)
    (local.set $exponent (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $bytes)))
        (local.set $marks
          (v128.or
            (local.get $marks)
            (v128.or
              (v128.or
                (i32x4.eq
                  (v128.and (v128.load offset=0 (local.get $i)) (local.get $exponent))
                  (local.get $exponent))
                (i32x4.eq
                  (v128.and (v128.load offset=16 (local.get $i)) (local.get $exponent))
                  (local.get $exponent)))
              (v128.or
                (i32x4.eq
                  (v128.and (v128.load offset=32 (local.get $i)) (local.get $exponent))
                  (local.get $exponent))
                (i32x4.eq
                  (v128.and (v128.load offset=48 (local.get $i)) (local.get $exponent))
                  (local.get $exponent))))))
        (local.set $i (i32.add (local.get $i) (i32.const 64)))
        (br $step)))
    (v128.any_true (local.get $marks))))
