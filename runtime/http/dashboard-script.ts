// runtime/http/dashboard-script.ts
// The dashboard's only JavaScript: swap in the main partial every few seconds, send Retry sync with fetch.

/**
 * Swaps in the main partial every few seconds without a full reload, and sends the Retry sync
 * form with fetch so the result shows in place. With JS off the forms post normally and the
 * <noscript> meta refresh reloads the page.
 */
export const REFRESH_SCRIPT = `(() => {
  const main = document.getElementById('main');
  const state = document.getElementById('refresh-state');
  const message = document.getElementById('action-message');
  const every = Number(main.dataset.refreshSeconds || 3) * 1000;
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const res = await fetch('/ui/partials/main', { headers: { accept: 'text/html' }, cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      main.innerHTML = await res.text();
      state.textContent = 'live';
    } catch (err) {
      state.textContent = 'refresh failed (' + err.message + '); retrying';
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, every);
  document.addEventListener('submit', async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.fetch) return;
    event.preventDefault();
    const button = form.querySelector('button');
    if (button) button.disabled = true;
    message.textContent = 'Working…';
    try {
      const res = await fetch(form.action, { method: 'POST', headers: { accept: 'application/json' } });
      const body = await res.json().catch(() => ({}));
      message.textContent = body.message || ('HTTP ' + res.status);
    } catch (err) {
      message.textContent = 'Request failed: ' + err.message;
    } finally {
      if (button) button.disabled = false;
      refresh();
    }
  });
})();`;

