// The stage registry: every stage type a config may name after `uses:`.
import type { AnyStage } from '../pipeline/stage.js';

export const stages: readonly AnyStage[] = [];
