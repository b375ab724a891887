;; Compare-exchange passes over rows of float32 values, with 128-bit SIMD: the kernel of the coordinate-wise median
;; (src/aggregators/columns.ts). JS copies a block of each input vector into a row of `memory` (rows `stride` bytes
;; apart) and a comparator network into memory as [a, b] byte-offset pairs, then calls exchange(rows, width,
;; comparators, count): for every pair, in order, and every column of the `width` bytes (a multiple of 16), row a
;; keeps the smaller of the two values and row b the larger. A sorting network's pairs leave every column sorted
;; down the rows. Values are finite (checked before), so f32x4.pmin and pmax (a single compare and select) are
;; exact. Build: pnpm --filter @swarmgrad/algorithms gen (writes src/generated/columns-wasm.ts).
(module
  (memory (export "memory") 1)
  (func (export "exchange") (param $rows i32) (param $width i32) (param $comparators i32) (param $count i32)
    (local $pa i32) (local $pb i32) (local $end i32) (local $va v128) (local $vb v128)
    (block $done
      (loop $pairs
        (br_if $done (i32.eqz (local.get $count)))
        (local.set $pa (i32.add (local.get $rows) (i32.load (local.get $comparators))))
        (local.set $pb (i32.add (local.get $rows) (i32.load offset=4 (local.get $comparators))))
        (local.set $end (i32.add (local.get $pa) (local.get $width)))
        (block $rowDone
          (loop $columns
            (br_if $rowDone (i32.ge_u (local.get $pa) (local.get $end)))
            (local.set $va (v128.load (local.get $pa)))
            (local.set $vb (v128.load (local.get $pb)))
            (v128.store (local.get $pa) (f32x4.pmin (local.get $va) (local.get $vb)))
            (v128.store (local.get $pb) (f32x4.pmax (local.get $va) (local.get $vb)))
            (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
            (local.set $pb (i32.add (local.get $pb) (i32.const 16)))
            (br $columns)))
        (local.set $comparators (i32.add (local.get $comparators) (i32.const 8)))
        (local.set $count (i32.sub (local.get $count) (i32.const 1)))
        (br $pairs))))
)
