// test/dashboard-no-streams.test.ts
// The Streams card tells "no stream is configured" (collects nothing by design) apart from "none has reported yet".

import { afterEach, describe, expect, it } from 'vitest';
import { createUiRuntime, type UiRuntime } from './helpers/ui-runtime.ts';

let ui: UiRuntime | undefined;
afterEach(async () => {
  await ui?.dispose();
  ui = undefined;
});

const page = async (u: UiRuntime) => (await u.app.request('/', { headers: { accept: 'text/html' } })).text();

describe('dashboard Streams card', () => {
  it('says no stream is configured, and how to add one or try --demo, when collector.streams is empty', async () => {
    ui = await createUiRuntime();
    expect(ui.runtime.loaded.config.collector.streams).toEqual([]);
    const html = await page(ui);
    expect(html).toContain('data-testid="no-streams-configured"');
    expect(html).toContain('No stream is configured: this runtime collects nothing. Two ways on');
    expect(html).toContain('collector.streams');
    expect(html).toContain('npm start -- --demo');
    // A collector.streams example for a real exchange, ready to paste.
    expect(html).toContain('collector:\n  streams:\n    - { exchange: binance, topic: trades, symbols: [BTC/USDT] }');
    expect(html).not.toContain('No stream has reported yet');
  });

  it('says no stream has reported yet when streams are configured but none has reported', async () => {
    ui = await createUiRuntime();
    ui.runtime.loaded.config.collector.streams.push({ exchange: 'binance', topic: 'ticker', symbols: ['BTC/USDT'] });
    const html = await page(ui);
    expect(html).toContain('No stream has reported yet');
    expect(html).not.toContain('no-streams-configured');
  });
});
