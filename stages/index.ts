// The stage registry: every stage type a config may name after `uses:`.
import type { AnyStage } from '../pipeline/stage.js';
import { downloadStage } from './download.js';
import { backboneStage } from './backbone.js';
import { featurizeStage } from './featurize.js';
import { fitReferenceSvmStage } from './fit-reference-svm.js';
import { gradientSignsStage } from './gradient-signs.js';
import { perturbStage } from './perturb.js';
import { refitStage } from './refit.js';
import { evaluateStage } from './evaluate.js';
import { reportStage } from './report.js';
import { importLiblinearModelStage } from './import-liblinear-model.js';
import { splitTestSetStage } from './split-test-set.js';
import { madeUpModelStage } from './made-up-model.js';
import { auditStage } from './audit.js';
import { detectStage } from './detect.js';
import { auditReportStage } from './audit-report.js';

export const stages: readonly AnyStage[] = [
  downloadStage,
  backboneStage,
  featurizeStage,
  fitReferenceSvmStage,
  gradientSignsStage,
  perturbStage,
  refitStage,
  evaluateStage,
  reportStage,
  importLiblinearModelStage,
  splitTestSetStage,
  madeUpModelStage,
  auditStage,
  detectStage,
  auditReportStage,
];
