;; The SGD step of a ReLU MLP in WebAssembly SIMD (see packages/trainer/src/dense-step.ts, which drives it).
;;
;; Every matrix is row-major float32 at a byte offset into the exported memory: weights `w` [in, out] (the
;; model's canonical layout), activations and gradients [n, width]. The caller pads: n to a multiple of 4, every
;; layer's output width to a multiple of 8, the input width to a multiple of 4, with zero rows and columns (zero
;; padding stays zero through every function here). Each matrix product keeps eight vector accumulators (a tile of 4 rows
;; × 8 columns, or in `backprop` 4 rows × 2 dot products) and adds with `f32x4.relaxed_madd`: a fused multiply-add
;; where the CPU has one, so the last bits of a result may differ between machines. `decode` turns a batch of byte
;; features into the first layer's input.
;; src/generated/mlp-wasm.ts holds this file assembled (`pnpm --filter @swarmgrad/trainer gen`; src/dense-step.test.ts
;; checks that it is current).
(module
  (memory (export "memory") 1)

  ;; out[n, dout] = x[n, din] · w[din, dout] + b[dout], then max(0, ·) when $relu is not 0
  (func (export "forward")
    (param $x i32) (param $w i32) (param $b i32) (param $out i32)
    (param $n i32) (param $din i32) (param $dout i32) (param $relu i32)
    (local $rowIn i32) (local $rowOut i32) (local $r i32) (local $j i32) (local $k i32)
    (local $xp i32) (local $wp i32) (local $op i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $w0 v128) (local $w1 v128) (local $s v128) (local $zero v128)
    (local.set $rowIn (i32.shl (local.get $din) (i32.const 2)))
    (local.set $rowOut (i32.shl (local.get $dout) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $cols
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $dout)))
            (local.set $a00 (v128.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $a01 (v128.load offset=16 (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $a10 (local.get $a00)) (local.set $a11 (local.get $a01))
            (local.set $a20 (local.get $a00)) (local.set $a21 (local.get $a01))
            (local.set $a30 (local.get $a00)) (local.set $a31 (local.get $a01))
            (local.set $xp (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rowIn))))
            (local.set $wp (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $k (local.get $din))
            (block $kDone
              (loop $ks
                (br_if $kDone (i32.eqz (local.get $k)))
                (local.set $w0 (v128.load (local.get $wp)))
                (local.set $w1 (v128.load offset=16 (local.get $wp)))
                (local.set $s (v128.load32_splat (local.get $xp)))
                (local.set $a00 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a00)))
                (local.set $a01 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a01)))
                (local.set $s (v128.load32_splat (i32.add (local.get $xp) (local.get $rowIn))))
                (local.set $a10 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a10)))
                (local.set $a11 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a11)))
                (local.set $s (v128.load32_splat (i32.add (local.get $xp) (i32.shl (local.get $rowIn) (i32.const 1)))))
                (local.set $a20 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a20)))
                (local.set $a21 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a21)))
                (local.set $s (v128.load32_splat (i32.add (local.get $xp) (i32.mul (local.get $rowIn) (i32.const 3)))))
                (local.set $a30 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a30)))
                (local.set $a31 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a31)))
                (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
                (local.set $wp (i32.add (local.get $wp) (local.get $rowOut)))
                (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                (br $ks)))
            (if (local.get $relu)
              (then
                (local.set $zero (f32x4.splat (f32.const 0)))
                (local.set $a00 (f32x4.pmax (local.get $zero) (local.get $a00)))
                (local.set $a01 (f32x4.pmax (local.get $zero) (local.get $a01)))
                (local.set $a10 (f32x4.pmax (local.get $zero) (local.get $a10)))
                (local.set $a11 (f32x4.pmax (local.get $zero) (local.get $a11)))
                (local.set $a20 (f32x4.pmax (local.get $zero) (local.get $a20)))
                (local.set $a21 (f32x4.pmax (local.get $zero) (local.get $a21)))
                (local.set $a30 (f32x4.pmax (local.get $zero) (local.get $a30)))
                (local.set $a31 (f32x4.pmax (local.get $zero) (local.get $a31)))))
            (local.set $op (i32.add (i32.add (local.get $out) (i32.mul (local.get $r) (local.get $rowOut)))
              (i32.shl (local.get $j) (i32.const 2))))
            (v128.store (local.get $op) (local.get $a00))
            (v128.store offset=16 (local.get $op) (local.get $a01))
            (local.set $op (i32.add (local.get $op) (local.get $rowOut)))
            (v128.store (local.get $op) (local.get $a10))
            (v128.store offset=16 (local.get $op) (local.get $a11))
            (local.set $op (i32.add (local.get $op) (local.get $rowOut)))
            (v128.store (local.get $op) (local.get $a20))
            (v128.store offset=16 (local.get $op) (local.get $a21))
            (local.set $op (i32.add (local.get $op) (local.get $rowOut)))
            (v128.store (local.get $op) (local.get $a30))
            (v128.store offset=16 (local.get $op) (local.get $a31))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br $cols)))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rows))))

  ;; w[din, dout] -= h[n, din]ᵀ · g[n, dout];  b[dout] -= Σ_r g[r, :]  (g holds the learning rate already).
  ;; For each four inputs k..k+3 it first lists, at $list (8 bytes a row), the rows where they are not all +0.0, and
  ;; sums over those rows only: the rest add exactly nothing (the first layer's input is an image, about half of
  ;; whose pixels are 0, and four neighbouring pixels of a row are all 0 in about 38 % of Fashion-MNIST's blocks)
  (func (export "update")
    (param $h i32) (param $g i32) (param $w i32) (param $b i32)
    (param $n i32) (param $din i32) (param $dout i32) (param $list i32)
    (local $rowIn i32) (local $rowOut i32) (local $k i32) (local $j i32) (local $r i32) (local $cnt i32) (local $lp i32)
    (local $hp i32) (local $gp i32) (local $wp i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $g0 v128) (local $g1 v128) (local $s v128)
    (local.set $rowIn (i32.shl (local.get $din) (i32.const 2)))
    (local.set $rowOut (i32.shl (local.get $dout) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $bDone
      (loop $bs
        (br_if $bDone (i32.ge_u (local.get $j) (local.get $dout)))
        (local.set $a00 (f32x4.splat (f32.const 0)))
        (local.set $gp (i32.add (local.get $g) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $r (local.get $n))
        (block $rDone
          (loop $rs
            (br_if $rDone (i32.eqz (local.get $r)))
            (local.set $a00 (f32x4.add (local.get $a00) (v128.load (local.get $gp))))
            (local.set $gp (i32.add (local.get $gp) (local.get $rowOut)))
            (local.set $r (i32.sub (local.get $r) (i32.const 1)))
            (br $rs)))
        (local.set $wp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (v128.store (local.get $wp) (f32x4.sub (v128.load (local.get $wp)) (local.get $a00)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $bs)))
    (local.set $k (i32.const 0))
    (block $kDone
      (loop $ks
        (br_if $kDone (i32.ge_u (local.get $k) (local.get $din)))
        ;; the rows whose four inputs k..k+3 are not all zero, as [h offset, g offset] pairs (branch-free: every
        ;; row is written, the count moves past the ones to keep)
        (local.set $cnt (i32.const 0))
        (local.set $hp (i32.add (local.get $h) (i32.shl (local.get $k) (i32.const 2))))
        (local.set $gp (local.get $g))
        (local.set $r (local.get $n))
        (block $lDone
          (loop $ls
            (br_if $lDone (i32.eqz (local.get $r)))
            (local.set $lp (i32.add (local.get $list) (i32.shl (local.get $cnt) (i32.const 3))))
            (i32.store (local.get $lp) (local.get $hp))
            (i32.store offset=4 (local.get $lp) (local.get $gp))
            (local.set $cnt (i32.add (local.get $cnt) (v128.any_true (v128.load (local.get $hp)))))
            (local.set $hp (i32.add (local.get $hp) (local.get $rowIn)))
            (local.set $gp (i32.add (local.get $gp) (local.get $rowOut)))
            (local.set $r (i32.sub (local.get $r) (i32.const 1)))
            (br $ls)))
        (local.set $j (i32.const 0))
        (block $jDone
          (loop $js
            (br_if $jDone (i32.ge_u (local.get $j) (local.get $dout)))
            (local.set $a00 (f32x4.splat (f32.const 0)))
            (local.set $a01 (local.get $a00)) (local.set $a10 (local.get $a00)) (local.set $a11 (local.get $a00))
            (local.set $a20 (local.get $a00)) (local.set $a21 (local.get $a00)) (local.set $a30 (local.get $a00))
            (local.set $a31 (local.get $a00))
            (local.set $lp (local.get $list))
            (local.set $r (local.get $cnt))
            (block $rDone
              (loop $rs
                (br_if $rDone (i32.eqz (local.get $r)))
                (local.set $hp (i32.load (local.get $lp)))
                (local.set $gp (i32.add (i32.load offset=4 (local.get $lp)) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $lp (i32.add (local.get $lp) (i32.const 8)))
                (local.set $g0 (v128.load (local.get $gp)))
                (local.set $g1 (v128.load offset=16 (local.get $gp)))
                (local.set $s (v128.load32_splat (local.get $hp)))
                (local.set $a00 (f32x4.relaxed_madd (local.get $s) (local.get $g0) (local.get $a00)))
                (local.set $a01 (f32x4.relaxed_madd (local.get $s) (local.get $g1) (local.get $a01)))
                (local.set $s (v128.load32_splat offset=4 (local.get $hp)))
                (local.set $a10 (f32x4.relaxed_madd (local.get $s) (local.get $g0) (local.get $a10)))
                (local.set $a11 (f32x4.relaxed_madd (local.get $s) (local.get $g1) (local.get $a11)))
                (local.set $s (v128.load32_splat offset=8 (local.get $hp)))
                (local.set $a20 (f32x4.relaxed_madd (local.get $s) (local.get $g0) (local.get $a20)))
                (local.set $a21 (f32x4.relaxed_madd (local.get $s) (local.get $g1) (local.get $a21)))
                (local.set $s (v128.load32_splat offset=12 (local.get $hp)))
                (local.set $a30 (f32x4.relaxed_madd (local.get $s) (local.get $g0) (local.get $a30)))
                (local.set $a31 (f32x4.relaxed_madd (local.get $s) (local.get $g1) (local.get $a31)))
                (local.set $r (i32.sub (local.get $r) (i32.const 1)))
                (br $rs)))
            (local.set $wp (i32.add (i32.add (local.get $w) (i32.mul (local.get $k) (local.get $rowOut)))
              (i32.shl (local.get $j) (i32.const 2))))
            (v128.store (local.get $wp) (f32x4.sub (v128.load (local.get $wp)) (local.get $a00)))
            (v128.store offset=16 (local.get $wp) (f32x4.sub (v128.load offset=16 (local.get $wp)) (local.get $a01)))
            (local.set $wp (i32.add (local.get $wp) (local.get $rowOut)))
            (v128.store (local.get $wp) (f32x4.sub (v128.load (local.get $wp)) (local.get $a10)))
            (v128.store offset=16 (local.get $wp) (f32x4.sub (v128.load offset=16 (local.get $wp)) (local.get $a11)))
            (local.set $wp (i32.add (local.get $wp) (local.get $rowOut)))
            (v128.store (local.get $wp) (f32x4.sub (v128.load (local.get $wp)) (local.get $a20)))
            (v128.store offset=16 (local.get $wp) (f32x4.sub (v128.load offset=16 (local.get $wp)) (local.get $a21)))
            (local.set $wp (i32.add (local.get $wp) (local.get $rowOut)))
            (v128.store (local.get $wp) (f32x4.sub (v128.load (local.get $wp)) (local.get $a30)))
            (v128.store offset=16 (local.get $wp) (f32x4.sub (v128.load offset=16 (local.get $wp)) (local.get $a31)))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (br $js)))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $ks))))

  ;; gin[r, k] = (Σ_j g[r, j] · w[k, j]) · (h[r, k] > 0): the gradient at the previous layer's pre-activation;
  ;; run it before `update` changes w
  (func (export "backprop")
    (param $g i32) (param $w i32) (param $h i32) (param $gin i32)
    (param $n i32) (param $din i32) (param $dout i32)
    (local $rowIn i32) (local $rowOut i32) (local $r i32) (local $k i32) (local $j i32)
    (local $gp i32) (local $wp i32) (local $hp i32)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local $w0 v128) (local $w1 v128) (local $s v128) (local $t v128)
    (local.set $rowIn (i32.shl (local.get $din) (i32.const 2)))
    (local.set $rowOut (i32.shl (local.get $dout) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $rDone
      (loop $rs
        (br_if $rDone (i32.ge_u (local.get $r) (local.get $n)))
        (local.set $k (i32.const 0))
        (block $kDone
          (loop $ks
            (br_if $kDone (i32.ge_u (local.get $k) (local.get $din)))
            (local.set $a00 (f32x4.splat (f32.const 0)))
            (local.set $a01 (local.get $a00)) (local.set $a10 (local.get $a00)) (local.set $a11 (local.get $a00))
            (local.set $a20 (local.get $a00)) (local.set $a21 (local.get $a00)) (local.set $a30 (local.get $a00))
            (local.set $a31 (local.get $a00))
            (local.set $gp (i32.add (local.get $g) (i32.mul (local.get $r) (local.get $rowOut))))
            (local.set $wp (i32.add (local.get $w) (i32.mul (local.get $k) (local.get $rowOut))))
            (local.set $j (local.get $dout))
            (block $jDone
              (loop $js
                (br_if $jDone (i32.eqz (local.get $j)))
                (local.set $w0 (v128.load (local.get $wp)))
                (local.set $w1 (v128.load (i32.add (local.get $wp) (local.get $rowOut))))
                (local.set $s (v128.load (local.get $gp)))
                (local.set $a00 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a00)))
                (local.set $a01 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a01)))
                (local.set $s (v128.load (i32.add (local.get $gp) (local.get $rowOut))))
                (local.set $a10 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a10)))
                (local.set $a11 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a11)))
                (local.set $s (v128.load (i32.add (local.get $gp) (i32.shl (local.get $rowOut) (i32.const 1)))))
                (local.set $a20 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a20)))
                (local.set $a21 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a21)))
                (local.set $s (v128.load (i32.add (local.get $gp) (i32.mul (local.get $rowOut) (i32.const 3)))))
                (local.set $a30 (f32x4.relaxed_madd (local.get $s) (local.get $w0) (local.get $a30)))
                (local.set $a31 (f32x4.relaxed_madd (local.get $s) (local.get $w1) (local.get $a31)))
                (local.set $gp (i32.add (local.get $gp) (i32.const 16)))
                (local.set $wp (i32.add (local.get $wp) (i32.const 16)))
                (local.set $j (i32.sub (local.get $j) (i32.const 4)))
                (br $js)))
            (local.set $hp (i32.add (i32.add (local.get $h) (i32.mul (local.get $r) (local.get $rowIn)))
              (i32.shl (local.get $k) (i32.const 2))))
            (local.set $gp (i32.add (i32.add (local.get $gin) (i32.mul (local.get $r) (local.get $rowIn)))
              (i32.shl (local.get $k) (i32.const 2))))
            ;; $s = [Σ$a00, Σ$a01, Σ$a10, Σ$a11]: gin[r, k], gin[r, k + 1], gin[r + 1, k], gin[r + 1, k + 1], masked
            ;; by the same places of h; then rows r + 2 and r + 3 from the other four accumulators
            (local.set $s (f32x4.add
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a00) (local.get $a01))
              (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a00) (local.get $a01))))
            (local.set $t (f32x4.add
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a10) (local.get $a11))
              (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a10) (local.get $a11))))
            (local.set $s (f32x4.add
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $s) (local.get $t))
              (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $s) (local.get $t))))
            (local.set $t (v128.load64_lane 1 (i32.add (local.get $hp) (local.get $rowIn))
              (v128.load64_zero (local.get $hp))))
            (local.set $s (v128.and (local.get $s) (f32x4.gt (local.get $t) (f32x4.splat (f32.const 0)))))
            (v128.store64_lane 0 (local.get $gp) (local.get $s))
            (v128.store64_lane 1 (i32.add (local.get $gp) (local.get $rowIn)) (local.get $s))
            (local.set $hp (i32.add (local.get $hp) (i32.shl (local.get $rowIn) (i32.const 1))))
            (local.set $gp (i32.add (local.get $gp) (i32.shl (local.get $rowIn) (i32.const 1))))
            (local.set $s (f32x4.add
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a20) (local.get $a21))
              (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a20) (local.get $a21))))
            (local.set $t (f32x4.add
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $a30) (local.get $a31))
              (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $a30) (local.get $a31))))
            (local.set $s (f32x4.add
              (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $s) (local.get $t))
              (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $s) (local.get $t))))
            (local.set $t (v128.load64_lane 1 (i32.add (local.get $hp) (local.get $rowIn))
              (v128.load64_zero (local.get $hp))))
            (local.set $s (v128.and (local.get $s) (f32x4.gt (local.get $t) (f32x4.splat (f32.const 0)))))
            (v128.store64_lane 0 (local.get $gp) (local.get $s))
            (v128.store64_lane 1 (i32.add (local.get $gp) (local.get $rowIn)) (local.get $s))
            (local.set $k (i32.add (local.get $k) (i32.const 2)))
            (br $ks)))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rs))))

  ;; out[r, k] = table[bytes[r, k]] for n rows of width bytes (rows `width` bytes apart in, `stride` floats apart
  ;; out): byte features (an image's grey levels) to the float32 values the 256-entry table gives them
  (func (export "decode")
    (param $bytes i32) (param $table i32) (param $out i32) (param $n i32) (param $width i32) (param $stride i32)
    (local $bp i32) (local $op i32) (local $end i32) (local $rowEnd i32)
    (local.set $bp (local.get $bytes))
    (local.set $end (i32.add (local.get $bytes) (i32.mul (local.get $n) (local.get $width))))
    (block $rowsDone
      (loop $rows
        (br_if $rowsDone (i32.ge_u (local.get $bp) (local.get $end)))
        (local.set $op (local.get $out))
        (local.set $rowEnd (i32.add (local.get $bp) (local.get $width)))
        (block $done
          (loop $values
            (br_if $done (i32.ge_u (local.get $bp) (local.get $rowEnd)))
            (f32.store (local.get $op)
              (f32.load (i32.add (local.get $table) (i32.shl (i32.load8_u (local.get $bp)) (i32.const 2)))))
            (local.set $bp (i32.add (local.get $bp) (i32.const 1)))
            (local.set $op (i32.add (local.get $op) (i32.const 4)))
            (br $values)))
        (local.set $out (i32.add (local.get $out) (i32.shl (local.get $stride) (i32.const 2))))
        (br $rows))))
)
