// The fit's large arrays (X copied to float64, X∘X, the gathered active rows: 2.2 GB at
// 50,000 × 3,072), kept from one fit to the next in the same process. On a fresh array the fit
// pays the first touch of every page: Float64Array.from of the 50,000 × 3,072 features took 2.7 s
// on fresh memory and 0.13 s on memory the process had used before, X∘X 1.8 s and 0.3 s
// (docs/speed.md), and a run of configs/cifar.yaml fits thirteen times. A fit overwrites every
// value it reads, so what a kept array held before does not matter.

type ScratchArray = Float64Array | Float32Array;
type ArrayType<T extends ScratchArray> = { new (buffer: ArrayBuffer, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number };

/** Per use, the largest buffer given back and not taken since. */
const kept = new Map<string, ArrayBuffer>();

/** An array of `length` values for `use`, on the buffer kept for it when that is large enough; values undefined. */
export function takeScratch<T extends ScratchArray>(use: string, type: ArrayType<T>, length: number): T {
  const bytes = length * type.BYTES_PER_ELEMENT;
  const buffer = kept.get(use);
  if (buffer && buffer.byteLength >= bytes) {
    kept.delete(use);
    return new type(buffer, 0, length);
  }
  return new type(new ArrayBuffer(bytes), 0, length);
}

/** Keeps the array's buffer for the next takeScratch of `use`, unless a larger one is kept already. */
export function giveBackScratch(use: string, array: ScratchArray): void {
  const buffer = array.buffer as ArrayBuffer;
  if ((kept.get(use)?.byteLength ?? 0) < buffer.byteLength) kept.set(use, buffer);
}
