// The report section "What an auditor sees": the audit table (Markdown, CSV, LaTeX, JSON rows),
// public against private accuracy per step, the detector's ROC curves and the power curve.

import { defineStage, type JsonValue } from '../pipeline/stage.js';
import { DETECTOR_METHOD, renderAuditCsv, renderAuditLatex, renderAuditMarkdown, type AuditData, type AuditReport, type Detection } from '../report/audit-tables.js';
import { renderPowerPlot, renderPublicPrivatePlot, renderRocPlot } from '../report/audit-plots.js';

const utf8 = (text: string) => new TextEncoder().encode(text);

export const auditReportStage = defineStage({
  name: 'audit-report',
  // 2: the plots are figures drawn by report/figure.ts (points at scale 2, its markers, font and <title>).
  version: 2,
  description: "The auditor's section of the report: tables (Markdown, CSV, LaTeX, JSON) and plots (public vs. private accuracy, ROC, power)",
  params: {},
  inputs: {
    audit: { kind: 'json', description: "The audit stage's rows, false flags and power table" },
    detections: { kind: 'json', many: true, description: 'Detector results, from a matrix over budget' },
  },
  outputs: {
    markdown: { kind: 'blob', description: 'The section in Markdown: audit table, false flags, power table, detector AUCs' },
    csv: { kind: 'blob', description: 'The audit table as CSV' },
    latex: { kind: 'blob', description: 'The audit table as a booktabs tabular' },
    rows: { kind: 'json', description: 'Everything above, machine-readable (what `pipeline report --format json` prints)' },
    accuracy_plot: { kind: 'blob', description: 'SVG: public and private accuracy against k' },
    roc_plot: { kind: 'blob', description: "SVG: the detector's ROC curves on the delivered images" },
    power_plot: { kind: 'blob', description: 'SVG: private images needed against the inflation' },
  },
  async run(inputs) {
    const detections = inputs.detections
      .map((item) => {
        const budget = item.coordinates.budget;
        if (typeof budget !== 'number') {
          throw new Error(`audit-report: input 'detections', instance '${item.instance}' has no numeric matrix variable 'budget' (got ${JSON.stringify(item.coordinates)}); bind detect instances of a matrix over budget`);
        }
        return { budget, ...(item.value as unknown as Detection) };
      })
      .sort((a, b) => a.budget - b.budget);
    const report: AuditReport = { ...(inputs.audit as unknown as AuditData), detector: { method: DETECTOR_METHOD, detections } };
    return {
      markdown: { extension: 'md', bytes: utf8(renderAuditMarkdown(report)) },
      csv: { extension: 'csv', bytes: utf8(renderAuditCsv(report)) },
      latex: { extension: 'tex', bytes: utf8(renderAuditLatex(report)) },
      rows: report as unknown as JsonValue,
      accuracy_plot: { extension: 'svg', bytes: utf8(renderPublicPrivatePlot(report)) },
      roc_plot: { extension: 'svg', bytes: utf8(renderRocPlot(report)) },
      power_plot: { extension: 'svg', bytes: utf8(renderPowerPlot(report)) },
    };
  },
});
