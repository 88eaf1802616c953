// The stage registry: every stage type a config may name after `uses:`.
import type { AnyStage } from '../pipeline/stage.js';
import { downloadStage } from './download.js';
import { backboneStage } from './backbone.js';
import { featurizeStage } from './featurize.js';
import { fitReferenceSvmStage } from './fit-reference-svm.js';
import { perturbStage } from './perturb.js';
import { refitStage } from './refit.js';
import { evaluateStage } from './evaluate.js';
import { reportStage } from './report.js';
import { importLiblinearModelStage } from './import-liblinear-model.js';

export const stages: readonly AnyStage[] = [
  downloadStage,
  backboneStage,
  featurizeStage,
  fitReferenceSvmStage,
  perturbStage,
  refitStage,
  evaluateStage,
  reportStage,
  importLiblinearModelStage,
];
