;; The primal Newton solver's double products with the training matrix X (n x d, float32 as stored),
;; computed with the same roundings as onnxruntime's DGEMM (MLAS), so that a fit's every bit is the
;; one it had when these products ran on onnxruntime (matrix-products.ts explains the order, and
;; test/svm-products.test.ts compares the two bit for bit).
;;
;; Each output element is a sum over a dimension cut into blocks: within a block, one fused
;; multiply-add after the other from +0 (f64x2.relaxed_madd, fused where the processor has FMA as
;; MLAS's kernels use it); the blocks' sums are then added in order. X is read as float32 and
;; widened exactly, so it is read once per Hessian product instead of twice in double.
;;
;; Threads: every thread calls `work`, which takes the task's items one by one from a shared
;; counter. The task and its parameters sit in the first 256 bytes of memory (matrix-products.ts
;; writes them).

(module
  (import "env" "memory" (memory 1 65536 shared))

  (func $param (param $index i32) (result i32)
    (i32.load (i32.add (i32.const 16) (i32.shl (local.get $index) (i32.const 2)))))

  ;; Byte address of row rows[at] of X.
  (func $row (param $x i32) (param $rowBytes i32) (param $rows i32) (param $at i32) (result i32)
    (i32.add (local.get $x)
      (i32.mul (i32.load (i32.add (local.get $rows) (i32.shl (local.get $at) (i32.const 2)))) (local.get $rowBytes))))

  ;; Margins of up to four rows (p0..p3; `valid` of them are stored) for the column pairs c, c + 1
  ;; (two pairs when `pairs` is 2): out[i][c..] = sum_j x_i[j] v[j][c..], v with row stride vStride bytes.
  (func $marginTile (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $p3 i32) (param $valid i32)
                    (param $v i32) (param $vStride i32) (param $d i32) (param $blockK i32)
                    (param $out i32) (param $outStride i32) (param $pairs i32)
    (local $start i32) (local $end i32) (local $at i32) (local $vp i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $va v128) (local $vb v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.ge_u (local.get $start) (local.get $d)))
        (local.set $end (select (local.get $d) (i32.add (local.get $start) (local.get $blockK))
          (i32.lt_u (i32.sub (local.get $d) (local.get $start)) (local.get $blockK))))
        (local.set $a0 (v128.const f64x2 0 0)) (local.set $a1 (v128.const f64x2 0 0))
        (local.set $a2 (v128.const f64x2 0 0)) (local.set $a3 (v128.const f64x2 0 0))
        (local.set $b0 (v128.const f64x2 0 0)) (local.set $b1 (v128.const f64x2 0 0))
        (local.set $b2 (v128.const f64x2 0 0)) (local.set $b3 (v128.const f64x2 0 0))
        (local.set $at (i32.shl (local.get $start) (i32.const 2)))
        (local.set $vp (i32.add (local.get $v) (i32.mul (local.get $start) (local.get $vStride))))
        (if (i32.eq (local.get $pairs) (i32.const 2))
          (then
            (loop $features
              (local.set $x0 (f64x2.promote_low_f32x4 (v128.load32_splat (i32.add (local.get $p0) (local.get $at)))))
              (local.set $x1 (f64x2.promote_low_f32x4 (v128.load32_splat (i32.add (local.get $p1) (local.get $at)))))
              (local.set $x2 (f64x2.promote_low_f32x4 (v128.load32_splat (i32.add (local.get $p2) (local.get $at)))))
              (local.set $x3 (f64x2.promote_low_f32x4 (v128.load32_splat (i32.add (local.get $p3) (local.get $at)))))
              (local.set $va (v128.load (local.get $vp)))
              (local.set $vb (v128.load offset=16 (local.get $vp)))
              (local.set $a0 (f64x2.relaxed_madd (local.get $x0) (local.get $va) (local.get $a0)))
              (local.set $b0 (f64x2.relaxed_madd (local.get $x0) (local.get $vb) (local.get $b0)))
              (local.set $a1 (f64x2.relaxed_madd (local.get $x1) (local.get $va) (local.get $a1)))
              (local.set $b1 (f64x2.relaxed_madd (local.get $x1) (local.get $vb) (local.get $b1)))
              (local.set $a2 (f64x2.relaxed_madd (local.get $x2) (local.get $va) (local.get $a2)))
              (local.set $b2 (f64x2.relaxed_madd (local.get $x2) (local.get $vb) (local.get $b2)))
              (local.set $a3 (f64x2.relaxed_madd (local.get $x3) (local.get $va) (local.get $a3)))
              (local.set $b3 (f64x2.relaxed_madd (local.get $x3) (local.get $vb) (local.get $b3)))
              (local.set $at (i32.add (local.get $at) (i32.const 4)))
              (local.set $vp (i32.add (local.get $vp) (local.get $vStride)))
              (br_if $features (i32.lt_u (local.get $at) (i32.shl (local.get $end) (i32.const 2))))))
          (else
            (loop $features1
              (local.set $va (v128.load (local.get $vp)))
              (local.set $a0 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load32_splat (i32.add (local.get $p0) (local.get $at)))) (local.get $va) (local.get $a0)))
              (local.set $a1 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load32_splat (i32.add (local.get $p1) (local.get $at)))) (local.get $va) (local.get $a1)))
              (local.set $a2 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load32_splat (i32.add (local.get $p2) (local.get $at)))) (local.get $va) (local.get $a2)))
              (local.set $a3 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load32_splat (i32.add (local.get $p3) (local.get $at)))) (local.get $va) (local.get $a3)))
              (local.set $at (i32.add (local.get $at) (i32.const 4)))
              (local.set $vp (i32.add (local.get $vp) (local.get $vStride)))
              (br_if $features1 (i32.lt_u (local.get $at) (i32.shl (local.get $end) (i32.const 2)))))))
        ;; A block's sum is never -0 (it starts from +0), so +0 + first block = first block.
        (local.set $s0 (f64x2.add (local.get $s0) (local.get $a0))) (local.set $t0 (f64x2.add (local.get $t0) (local.get $b0)))
        (local.set $s1 (f64x2.add (local.get $s1) (local.get $a1))) (local.set $t1 (f64x2.add (local.get $t1) (local.get $b1)))
        (local.set $s2 (f64x2.add (local.get $s2) (local.get $a2))) (local.set $t2 (f64x2.add (local.get $t2) (local.get $b2)))
        (local.set $s3 (f64x2.add (local.get $s3) (local.get $a3))) (local.set $t3 (f64x2.add (local.get $t3) (local.get $b3)))
        (local.set $start (local.get $end))
        (br $blocks)))
    (v128.store (local.get $out) (local.get $s0))
    (if (i32.eq (local.get $pairs) (i32.const 2)) (then (v128.store offset=16 (local.get $out) (local.get $t0))))
    (if (i32.gt_u (local.get $valid) (i32.const 1)) (then
      (local.set $out (i32.add (local.get $out) (local.get $outStride)))
      (v128.store (local.get $out) (local.get $s1))
      (if (i32.eq (local.get $pairs) (i32.const 2)) (then (v128.store offset=16 (local.get $out) (local.get $t1))))))
    (if (i32.gt_u (local.get $valid) (i32.const 2)) (then
      (local.set $out (i32.add (local.get $out) (local.get $outStride)))
      (v128.store (local.get $out) (local.get $s2))
      (if (i32.eq (local.get $pairs) (i32.const 2)) (then (v128.store offset=16 (local.get $out) (local.get $t2))))))
    (if (i32.gt_u (local.get $valid) (i32.const 3)) (then
      (local.set $out (i32.add (local.get $out) (local.get $outStride)))
      (v128.store (local.get $out) (local.get $s3))
      (if (i32.eq (local.get $pairs) (i32.const 2)) (then (v128.store offset=16 (local.get $out) (local.get $t3)))))))

  ;; out[at][0..columns) = X[rows[at]] V for at in [from, to); V is d x columns (columns even), as is
  ;; each row of out; the features are summed in blocks of blockK.
  (func $margins (param $x i32) (param $d i32) (param $rows i32) (param $from i32) (param $to i32)
                 (param $v i32) (param $columns i32) (param $blockK i32) (param $out i32)
    (local $rowBytes i32) (local $stride i32) (local $valid i32) (local $c i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $stride (i32.shl (local.get $columns) (i32.const 3)))
    (block $rowsDone
      (loop $rowsLoop
        (br_if $rowsDone (i32.ge_u (local.get $from) (local.get $to)))
        (local.set $valid (i32.sub (local.get $to) (local.get $from)))
        (if (i32.gt_u (local.get $valid) (i32.const 4)) (then (local.set $valid (i32.const 4))))
        (local.set $p0 (call $row (local.get $x) (local.get $rowBytes) (local.get $rows) (local.get $from)))
        (local.set $p1 (local.get $p0)) (local.set $p2 (local.get $p0)) (local.set $p3 (local.get $p0))
        (if (i32.gt_u (local.get $valid) (i32.const 1)) (then
          (local.set $p1 (call $row (local.get $x) (local.get $rowBytes) (local.get $rows) (i32.add (local.get $from) (i32.const 1))))))
        (if (i32.gt_u (local.get $valid) (i32.const 2)) (then
          (local.set $p2 (call $row (local.get $x) (local.get $rowBytes) (local.get $rows) (i32.add (local.get $from) (i32.const 2))))))
        (if (i32.gt_u (local.get $valid) (i32.const 3)) (then
          (local.set $p3 (call $row (local.get $x) (local.get $rowBytes) (local.get $rows) (i32.add (local.get $from) (i32.const 3))))))
        (local.set $c (i32.const 0))
        (block $columnsDone
          (loop $columnsLoop
            (br_if $columnsDone (i32.ge_u (local.get $c) (local.get $columns)))
            (call $marginTile (local.get $p0) (local.get $p1) (local.get $p2) (local.get $p3) (local.get $valid)
              (i32.add (local.get $v) (i32.shl (local.get $c) (i32.const 3))) (local.get $stride) (local.get $d) (local.get $blockK)
              (i32.add (local.get $out) (i32.add (i32.mul (local.get $from) (local.get $stride)) (i32.shl (local.get $c) (i32.const 3))))
              (local.get $stride)
              (select (i32.const 2) (i32.const 1) (i32.le_u (i32.add (local.get $c) (i32.const 4)) (local.get $columns))))
            (local.set $c (i32.add (local.get $c)
              (select (i32.const 4) (i32.const 2) (i32.le_u (i32.add (local.get $c) (i32.const 4)) (local.get $columns)))))
            (br $columnsLoop)))
        (local.set $from (i32.add (local.get $from) (local.get $valid)))
        (br $rowsLoop))))

  ;; partial[j][c] = sum over at in [from, to) of X[rows[at]][j] s[at][c], one chain from +0 in the
  ;; order of `at`, for c < columns; s has a row stride of sStride bytes. partial holds the features
  ;; in pairs: ceil(d / 2) x columns x 2 (one vector per pair and column, so the column loop reads
  ;; consecutive memory).
  (func $accumulate (param $x i32) (param $d i32) (param $rows i32) (param $from i32) (param $to i32)
                    (param $s i32) (param $sStride i32) (param $columns i32) (param $tile i32) (param $partial i32)
    (local $rowBytes i32) (local $valid i32) (local $at i32) (local $c i32) (local $pp i32)
    (local $q0 i32) (local $q1 i32) (local $q2 i32) (local $q3 i32)
    (local $w i32) (local $tp i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $acc v128)
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    (memory.fill (local.get $partial) (i32.const 0)
      (i32.shl (i32.mul (i32.shr_u (i32.add (local.get $d) (i32.const 1)) (i32.const 1)) (local.get $columns)) (i32.const 4)))
    (block $rowsDone
      (loop $rowsLoop
        (br_if $rowsDone (i32.ge_u (local.get $from) (local.get $to)))
        (local.set $valid (i32.sub (local.get $to) (local.get $from)))
        (if (i32.gt_u (local.get $valid) (i32.const 4)) (then (local.set $valid (i32.const 4))))
        ;; The tile's weights, column by column (tile[c][i] = s[from + i][c]); a missing row repeats
        ;; row 0 with zero weights: x * 0 added to a sum that is never -0 leaves it unchanged.
        (local.set $q0 (call $row (local.get $x) (local.get $rowBytes) (local.get $rows) (local.get $from)))
        (local.set $q1 (local.get $q0)) (local.set $q2 (local.get $q0)) (local.set $q3 (local.get $q0))
        (if (i32.gt_u (local.get $valid) (i32.const 1)) (then
          (local.set $q1 (call $row (local.get $x) (local.get $rowBytes) (local.get $rows) (i32.add (local.get $from) (i32.const 1))))))
        (if (i32.gt_u (local.get $valid) (i32.const 2)) (then
          (local.set $q2 (call $row (local.get $x) (local.get $rowBytes) (local.get $rows) (i32.add (local.get $from) (i32.const 2))))))
        (if (i32.gt_u (local.get $valid) (i32.const 3)) (then
          (local.set $q3 (call $row (local.get $x) (local.get $rowBytes) (local.get $rows) (i32.add (local.get $from) (i32.const 3))))))
        (memory.fill (local.get $tile) (i32.const 0) (i32.shl (local.get $columns) (i32.const 5)))
        (local.set $c (i32.const 0))
        (loop $tileColumns
          (local.set $w (i32.add (i32.add (local.get $s) (i32.mul (local.get $from) (local.get $sStride))) (i32.shl (local.get $c) (i32.const 3))))
          (local.set $tp (i32.add (local.get $tile) (i32.shl (local.get $c) (i32.const 5))))
          (f64.store (local.get $tp) (f64.load (local.get $w)))
          (if (i32.gt_u (local.get $valid) (i32.const 1)) (then
            (f64.store offset=8 (local.get $tp) (f64.load (i32.add (local.get $w) (local.get $sStride))))))
          (if (i32.gt_u (local.get $valid) (i32.const 2)) (then
            (f64.store offset=16 (local.get $tp) (f64.load (i32.add (local.get $w) (i32.shl (local.get $sStride) (i32.const 1)))))))
          (if (i32.gt_u (local.get $valid) (i32.const 3)) (then
            (f64.store offset=24 (local.get $tp) (f64.load (i32.add (local.get $w) (i32.mul (local.get $sStride) (i32.const 3)))))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br_if $tileColumns (i32.lt_u (local.get $c) (local.get $columns))))
        (local.set $at (i32.const 0))
        (block $pairsDone
          (loop $pairs
            (br_if $pairsDone (i32.gt_u (i32.add (local.get $at) (i32.const 2)) (local.get $d)))
            (local.set $x0 (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $q0) (i32.shl (local.get $at) (i32.const 2))))))
            (local.set $x1 (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $q1) (i32.shl (local.get $at) (i32.const 2))))))
            (local.set $x2 (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $q2) (i32.shl (local.get $at) (i32.const 2))))))
            (local.set $x3 (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $q3) (i32.shl (local.get $at) (i32.const 2))))))
            (local.set $pp (i32.add (local.get $partial) (i32.shl (i32.mul (local.get $at) (local.get $columns)) (i32.const 3))))
            (local.set $tp (local.get $tile))
            (local.set $c (i32.const 0))
            (loop $columnsLoop
              (local.set $acc (v128.load (local.get $pp)))
              (local.set $acc (f64x2.relaxed_madd (local.get $x0) (v128.load64_splat (local.get $tp)) (local.get $acc)))
              (local.set $acc (f64x2.relaxed_madd (local.get $x1) (v128.load64_splat offset=8 (local.get $tp)) (local.get $acc)))
              (local.set $acc (f64x2.relaxed_madd (local.get $x2) (v128.load64_splat offset=16 (local.get $tp)) (local.get $acc)))
              (local.set $acc (f64x2.relaxed_madd (local.get $x3) (v128.load64_splat offset=24 (local.get $tp)) (local.get $acc)))
              (v128.store (local.get $pp) (local.get $acc))
              (local.set $pp (i32.add (local.get $pp) (i32.const 16)))
              (local.set $tp (i32.add (local.get $tp) (i32.const 32)))
              (local.set $c (i32.add (local.get $c) (i32.const 1)))
              (br_if $columnsLoop (i32.lt_u (local.get $c) (local.get $columns))))
            (local.set $at (i32.add (local.get $at) (i32.const 2)))
            (br $pairs)))
        ;; An odd last feature: lane 1 reads nothing and is not stored.
        (if (i32.lt_u (local.get $at) (local.get $d)) (then
          (local.set $x0 (f64x2.promote_low_f32x4 (v128.load32_zero (i32.add (local.get $q0) (i32.shl (local.get $at) (i32.const 2))))))
          (local.set $x1 (f64x2.promote_low_f32x4 (v128.load32_zero (i32.add (local.get $q1) (i32.shl (local.get $at) (i32.const 2))))))
          (local.set $x2 (f64x2.promote_low_f32x4 (v128.load32_zero (i32.add (local.get $q2) (i32.shl (local.get $at) (i32.const 2))))))
          (local.set $x3 (f64x2.promote_low_f32x4 (v128.load32_zero (i32.add (local.get $q3) (i32.shl (local.get $at) (i32.const 2))))))
          (local.set $pp (i32.add (local.get $partial) (i32.shl (i32.mul (local.get $at) (local.get $columns)) (i32.const 3))))
          (local.set $tp (local.get $tile))
          (local.set $c (i32.const 0))
          (loop $lastColumns
            (local.set $acc (v128.load64_zero (local.get $pp)))
            (local.set $acc (f64x2.relaxed_madd (local.get $x0) (v128.load64_splat (local.get $tp)) (local.get $acc)))
            (local.set $acc (f64x2.relaxed_madd (local.get $x1) (v128.load64_splat offset=8 (local.get $tp)) (local.get $acc)))
            (local.set $acc (f64x2.relaxed_madd (local.get $x2) (v128.load64_splat offset=16 (local.get $tp)) (local.get $acc)))
            (local.set $acc (f64x2.relaxed_madd (local.get $x3) (v128.load64_splat offset=24 (local.get $tp)) (local.get $acc)))
            (v128.store64_lane 0 (local.get $pp) (local.get $acc))
            (local.set $pp (i32.add (local.get $pp) (i32.const 16)))
            (local.set $tp (i32.add (local.get $tp) (i32.const 32)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br_if $lastColumns (i32.lt_u (local.get $c) (local.get $columns))))))
        (local.set $from (i32.add (local.get $from) (local.get $valid)))
        (br $rowsLoop))))

  ;; out[j][c] = sum over blocks b in order of partials[b][j][c] (each laid out as in accumulate),
  ;; for the feature pairs [from, to) and c < columns, out being d x columns; scratch holds
  ;; (to - from) x columns vectors.
  (func $combine (param $partials i32) (param $blocks i32) (param $columns i32) (param $d i32)
                 (param $from i32) (param $to i32) (param $out i32) (param $scratch i32)
    (local $b i32) (local $at i32) (local $end i32) (local $source i32) (local $blockBytes i32)
    (local $pair i32) (local $c i32) (local $sum v128) (local $cell i32)
    (local.set $blockBytes (i32.shl (i32.mul (i32.shr_u (i32.add (local.get $d) (i32.const 1)) (i32.const 1)) (local.get $columns)) (i32.const 4)))
    (local.set $end (i32.shl (i32.mul (i32.sub (local.get $to) (local.get $from)) (local.get $columns)) (i32.const 4)))
    (memory.fill (local.get $scratch) (i32.const 0) (local.get $end))
    (local.set $source (i32.add (local.get $partials) (i32.shl (i32.mul (local.get $from) (local.get $columns)) (i32.const 4))))
    (block $blocksDone
      (loop $blocksLoop
        (br_if $blocksDone (i32.ge_u (local.get $b) (local.get $blocks)))
        (local.set $at (i32.const 0))
        (loop $vectors
          (v128.store (i32.add (local.get $scratch) (local.get $at))
            (f64x2.add (v128.load (i32.add (local.get $scratch) (local.get $at))) (v128.load (i32.add (local.get $source) (local.get $at)))))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (br_if $vectors (i32.lt_u (local.get $at) (local.get $end))))
        (local.set $source (i32.add (local.get $source) (local.get $blockBytes)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $blocksLoop)))
    (local.set $pair (local.get $from))
    (local.set $at (local.get $scratch))
    (loop $pairs
      (local.set $c (i32.const 0))
      (loop $columnsLoop
        (local.set $sum (v128.load (local.get $at)))
        (local.set $cell (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (i32.shl (local.get $pair) (i32.const 1)) (local.get $columns)) (local.get $c)) (i32.const 3))))
        (v128.store64_lane 0 (local.get $cell) (local.get $sum))
        (if (i32.lt_u (i32.add (i32.shl (local.get $pair) (i32.const 1)) (i32.const 1)) (local.get $d)) (then
          (v128.store64_lane 1 (i32.add (local.get $cell) (i32.shl (local.get $columns) (i32.const 3))) (local.get $sum))))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $columnsLoop (i32.lt_u (local.get $c) (local.get $columns))))
      (local.set $pair (i32.add (local.get $pair) (i32.const 1)))
      (br_if $pairs (i32.lt_u (local.get $pair) (local.get $to)))))

  ;; Parameters (param i): 0 x, 1 d, 2 rows, 3 count, 4 v, 5 paddedColumns, 6 columns, 7 blockK,
  ;; 8 intercepts, 9 rowWeights (n x columns, by row), 10 s, 11 s row stride (bytes), 12 partials,
  ;; 13 blocks, 14 blockStarts, 15 out, 16 scratch, 17 items.
  ;; Tasks (byte 12): 1 margins of rows [256 i, 256 i + 256) into out; 2 Hessian block i; 3 X' s
  ;; block i; 4 combine feature pairs [32 i, 32 i + 32).
  (func (export "work")
    (local $item i32) (local $from i32) (local $to i32) (local $at i32) (local $c i32) (local $cell i32)
    (block $done
      (loop $items
        (local.set $item (i32.atomic.rmw.add (i32.const 8) (i32.const 1)))
        (br_if $done (i32.ge_u (local.get $item) (call $param (i32.const 17))))
        (block $dispatched
          (if (i32.eq (i32.load (i32.const 12)) (i32.const 4)) (then
            (local.set $from (i32.shl (local.get $item) (i32.const 5)))
            (local.set $to (i32.add (local.get $from) (i32.const 32)))
            (local.set $at (i32.shr_u (i32.add (call $param (i32.const 1)) (i32.const 1)) (i32.const 1)))
            (if (i32.gt_u (local.get $to) (local.get $at)) (then (local.set $to (local.get $at))))
            (call $combine (call $param (i32.const 12)) (call $param (i32.const 13)) (call $param (i32.const 6))
              (call $param (i32.const 1)) (local.get $from) (local.get $to) (call $param (i32.const 15))
              (i32.add (call $param (i32.const 16)) (i32.mul (local.get $item) (i32.shl (call $param (i32.const 6)) (i32.const 9)))))
            (br $dispatched)))
          (if (i32.eq (i32.load (i32.const 12)) (i32.const 1)) (then
            (local.set $from (i32.shl (local.get $item) (i32.const 8)))
            (local.set $to (i32.add (local.get $from) (i32.const 256)))
            (if (i32.gt_u (local.get $to) (call $param (i32.const 3))) (then (local.set $to (call $param (i32.const 3)))))
            (call $margins (call $param (i32.const 0)) (call $param (i32.const 1)) (call $param (i32.const 2))
              (local.get $from) (local.get $to) (call $param (i32.const 4)) (call $param (i32.const 5))
              (call $param (i32.const 7)) (call $param (i32.const 15)))
            (br $dispatched)))
          (local.set $from (i32.load (i32.add (call $param (i32.const 14)) (i32.shl (local.get $item) (i32.const 2)))))
          (local.set $to (i32.load offset=4 (i32.add (call $param (i32.const 14)) (i32.shl (local.get $item) (i32.const 2)))))
          (if (i32.eq (i32.load (i32.const 12)) (i32.const 2)) (then
            (call $margins (call $param (i32.const 0)) (call $param (i32.const 1)) (call $param (i32.const 2))
              (local.get $from) (local.get $to) (call $param (i32.const 4)) (call $param (i32.const 5))
              (call $param (i32.const 7)) (call $param (i32.const 10)))
            ;; s = (X v + intercept) * weight, as onnxruntime's Add then Mul.
            (local.set $at (local.get $from))
            (block $scaledDone
              (loop $scaled
                (br_if $scaledDone (i32.ge_u (local.get $at) (local.get $to)))
                (local.set $c (i32.const 0))
                (loop $scaledColumns
                  (local.set $cell (i32.add (call $param (i32.const 10))
                    (i32.add (i32.mul (local.get $at) (call $param (i32.const 11))) (i32.shl (local.get $c) (i32.const 3)))))
                  (f64.store (local.get $cell)
                    (f64.mul
                      (f64.add (f64.load (local.get $cell)) (f64.load (i32.add (call $param (i32.const 8)) (i32.shl (local.get $c) (i32.const 3)))))
                      (f64.load (i32.add (call $param (i32.const 9))
                        (i32.shl (i32.add (i32.mul (i32.load (i32.add (call $param (i32.const 2)) (i32.shl (local.get $at) (i32.const 2))))
                          (call $param (i32.const 6))) (local.get $c)) (i32.const 3))))))
                  (local.set $c (i32.add (local.get $c) (i32.const 1)))
                  (br_if $scaledColumns (i32.lt_u (local.get $c) (call $param (i32.const 6)))))
                (local.set $at (i32.add (local.get $at) (i32.const 1)))
                (br $scaled)))))
          (call $accumulate (call $param (i32.const 0)) (call $param (i32.const 1)) (call $param (i32.const 2))
            (local.get $from) (local.get $to) (call $param (i32.const 10)) (call $param (i32.const 11))
            (call $param (i32.const 6))
            (i32.add (call $param (i32.const 16)) (i32.mul (local.get $item) (i32.shl (call $param (i32.const 6)) (i32.const 5))))
            (i32.add (call $param (i32.const 12)) (i32.mul (local.get $item)
              (i32.shl (i32.mul (call $param (i32.const 6)) (i32.shr_u (i32.add (call $param (i32.const 1)) (i32.const 1)) (i32.const 1))) (i32.const 4))))))
        (br $items))))
)
