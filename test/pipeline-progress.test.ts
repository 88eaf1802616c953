// Progress display: short plain lines for logs, a redrawn bar block for terminals.
import { describe, expect, it } from 'vitest';
import { LiveReporter, PlainReporter, describeProgress } from '../pipeline/progress.js';

function recorder() {
  const sink = { text: '', write: (chunk: string) => (sink.text += chunk) };
  return sink;
}

describe('progress', () => {
  it('describes done/total, rate and ETA', () => {
    expect(describeProgress({ startedAt: 0, done: 250, total: 1000, unit: 'images' }, 10_000)).toBe('25% 250/1000 images 25/s ETA 30.0s');
  });

  it('plain output prints a line per 10% step at most every 5 s, or after 30 s of silence; nothing for quick stages', () => {
    let now = 0;
    const sink = recorder();
    const reporter = new PlainReporter(sink, () => now);
    reporter.stageStarted('fit');
    const at = (time: number, done: number) => {
      now = time;
      reporter.stageProgress('fit', done, 100, 'iterations');
    };
    at(1000, 50);
    at(6000, 55);
    at(6500, 70);
    at(12_000, 71);
    at(42_000, 72);
    reporter.stageFinished('fit', 'succeeded', 45_000);
    expect(sink.text.split('\n').filter(Boolean)).toEqual([
      'started     fit',
      'progress    fit 55% 55/100 iterations 9.2/s ETA 4.9s',
      'progress    fit 71% 71/100 iterations 5.9/s ETA 4.9s',
      'progress    fit 72% 72/100 iterations 1.7/s ETA 16.3s',
      'done        fit (45.0s)',
    ]);
  });

  it('live output redraws one bar per running stage and clears it at the end', () => {
    let now = 0;
    const sink = recorder();
    const reporter = new LiveReporter(sink, () => 100, () => now);
    reporter.stageStarted('features@split=train');
    now = 2000;
    reporter.stageProgress('features@split=train', 50, 100, 'images');
    expect(sink.text).toContain('[############------------] features@split=train 50% 50/100 images 25/s ETA 2.0s\n');
    reporter.stageFinished('features@split=train', 'succeeded', 2500);
    reporter.close();
    expect(sink.text.endsWith('done        features@split=train (2.5s)\n')).toBe(true);
    expect(sink.text).toContain('\x1b[1F\x1b[J');
  });
});
