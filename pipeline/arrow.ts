// apache-arrow, the library of the `table` artifacts, for the engine and the stages alike.
//
// The package's default entry point is some 150 ES modules, which take 0.6-0.9 s to load on
// Node 20: more than a warm no-op `pipeline run` may take in total. The package also ships the
// same library as one minified file, which loads in about 0.05 s; even that is loaded on first
// use (`arrow()`), since a run that reuses every result reads no table. Every module of the
// project takes Arrow from here, so that all tables come from one copy of the library.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

type ApacheArrow = typeof import('apache-arrow');

const require = createRequire(import.meta.url);
let library: ApacheArrow | undefined;

/** The apache-arrow library, loaded by the first call. */
export function arrow(): ApacheArrow {
  library ??= require(join(dirname(require.resolve('apache-arrow')), 'Arrow.esnext.min.js')) as ApacheArrow;
  return library;
}

// The classes' instance types.
type A = typeof import('apache-arrow');
export type Table<T extends import('apache-arrow').TypeMap = any> = import('apache-arrow').Table<T>;
export type Data<T extends import('apache-arrow').DataType = import('apache-arrow').DataType> = import('apache-arrow').Data<T>;
export type Field<T extends import('apache-arrow').DataType = any> = import('apache-arrow').Field<T>;
export type Schema = InstanceType<A['Schema']>;
export type FixedSizeList = InstanceType<A['FixedSizeList']>;
export type Int32 = InstanceType<A['Int32']>;
export type Bool = InstanceType<A['Bool']>;
export type Float64 = InstanceType<A['Float64']>;
export type Dictionary = InstanceType<A['Dictionary']>;
export type { DataType } from 'apache-arrow';
