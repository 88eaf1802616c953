// A few lines of Python that open a table artifact with pyarrow, printed by `pipeline show`.
// Columns of Arrow's canonical `arrow.fixed_shape_tensor` type come back as numpy arrays.

import type { Table } from './arrow.js';

const TENSOR_EXTENSION = 'arrow.fixed_shape_tensor';

export function pyarrowSnippet(path: string, table: Table): string {
  const lines = ['import pyarrow as pa', `table = pa.ipc.open_file(${JSON.stringify(path)}).read_all()`];
  for (const field of table.schema.fields) {
    if (field.metadata.get('ARROW:extension:name') !== TENSOR_EXTENSION) continue;
    const variable = field.name.replace(/\W/g, '_').replace(/^(?=\d)/, '_');
    lines.push(`${variable} = table[${JSON.stringify(field.name)}].combine_chunks().to_numpy_ndarray()  # numpy, (rows, *shape)`);
  }
  lines.push('frame = table.to_pandas()');
  return lines.join('\n');
}
