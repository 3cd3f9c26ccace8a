/**
 * The web page's script and style, kept in the bundle as text (no build step of their own, no
 * file to find at run time). The script uses no template literals, so it can live in one here.
 * Every name from the image reaches the page through textContent or an attribute set by the
 * DOM, never through innerHTML.
 */

export const APP_JS = String.raw`'use strict';
(function () {
  var state = { entries: [], shown: [], cursor: 0, sort: 'name', desc: false, selected: new Set(), mode: 'list', results: null };
  var $ = function (id) { return document.getElementById(id); };
  var tbody, status;

  function human(n) {
    if (n < 1024) return n + ' B';
    var u = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'], i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) + ' ' + u[i];
  }
  function localTime(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    var p = function (x) { return (x < 10 ? '0' : '') + x; };
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function say(text) { status.textContent = text; }
  function getJson(url) {
    return fetch(url, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) return r.text().then(function (t) { throw new Error(t.trim() || r.statusText); });
      return r.json();
    });
  }

  function crumbs() {
    var nav = $('crumbs');
    nav.textContent = '';
    var parts = location.pathname.split('/').filter(Boolean);
    var a = el('a', 'diskpick');
    a.href = '/';
    nav.appendChild(a);
    var href = '/';
    parts.forEach(function (p) {
      href += p + '/';
      nav.appendChild(el('span', ' / ', 'sep'));
      var c = el('a', decodeURIComponent(p));
      c.href = href;
      nav.appendChild(c);
    });
    document.title = (parts.length ? decodeURIComponent(parts[parts.length - 1]) : 'diskpick') + ' \u2014 diskpick';
  }

  function sortEntries(list) {
    var k = state.sort, sign = state.desc ? -1 : 1;
    return list.slice().sort(function (a, b) {
      var da = a.type === 'dir' ? 0 : 1, db = b.type === 'dir' ? 0 : 1;
      if (da !== db) return da - db;
      var r = 0;
      if (k === 'size') r = a.size - b.size;
      else if (k === 'mtime') r = (a.mtime || '').localeCompare(b.mtime || '');
      if (r === 0) r = a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: 'base' });
      return r * sign;
    });
  }

  function render() {
    var f = $('filter').value.toLowerCase();
    var base = state.mode === 'search' ? state.results : state.entries;
    state.shown = sortEntries(base.filter(function (e) { return !f || e.name.toLowerCase().indexOf(f) >= 0; }));
    if (state.cursor >= state.shown.length) state.cursor = Math.max(0, state.shown.length - 1);
    tbody.textContent = '';
    state.shown.forEach(function (e, i) {
      var tr = el('tr');
      tr.dataset.index = String(i);
      if (i === state.cursor) tr.className = 'cursor';
      var sel = el('td', null, 'sel');
      var box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = state.selected.has(e.name);
      box.disabled = state.mode === 'search';
      box.setAttribute('aria-label', 'select');
      box.addEventListener('change', function () { toggle(e); });
      sel.appendChild(box);
      tr.appendChild(sel);
      var name = el('td', null, 'name ' + e.type);
      var a = el('a', state.mode === 'search' ? decodeURIComponent(e.href) : e.name);
      a.href = e.href;
      if (e.type !== 'dir' && e.type !== 'file') a.removeAttribute('href');
      name.appendChild(a);
      if (e.target !== undefined) name.appendChild(el('span', ' \u2192 ' + e.target, 'target'));
      tr.appendChild(name);
      tr.appendChild(el('td', e.type === 'dir' ? '' : human(e.size), 'num'));
      tr.appendChild(el('td', localTime(e.mtime)));
      tr.addEventListener('click', function (ev) { if (ev.target.tagName !== 'INPUT' && ev.target.tagName !== 'A') { state.cursor = i; render(); } });
      tbody.appendChild(tr);
    });
    $('zip-selection').disabled = state.selected.size === 0;
    var n = state.shown.length;
    say(state.mode === 'search'
      ? n + ' found' + (state.truncated ? ' (first ' + n + ' only)' : '') + ' \u2014 Esc returns to the folder'
      : n + ' entries' + (state.selected.size ? ', ' + state.selected.size + ' selected' : ''));
    var cur = tbody.querySelector('tr.cursor');
    if (cur && cur.scrollIntoView) cur.scrollIntoView({ block: 'nearest' });
  }

  function toggle(e) {
    if (state.mode === 'search') return;
    if (state.selected.has(e.name)) state.selected.delete(e.name); else state.selected.add(e.name);
    render();
  }

  function load() {
    crumbs();
    say('loading\u2026');
    getJson('?list').then(function (j) {
      state.entries = j.entries; state.mode = 'list'; state.cursor = 0; state.selected.clear();
      render();
    }, function (err) { say('cannot list this folder: ' + err.message); });
  }

  function current() { return state.shown[state.cursor]; }
  function open(e) {
    if (!e) return;
    if (e.type === 'dir') location.href = e.href;
    else if (e.type === 'file') location.href = e.href + '?download';
  }
  function up() {
    var parts = location.pathname.split('/').filter(Boolean);
    if (!parts.length) return;
    parts.pop();
    location.href = '/' + parts.map(function (p) { return p; }).join('/') + (parts.length ? '/' : '');
  }

  function side(title, node) {
    $('side-title').textContent = title;
    var body = $('side-body');
    body.textContent = '';
    body.appendChild(node);
    $('side').hidden = false;
  }
  function preview(e) {
    if (!e || e.type !== 'file') return;
    if (/\.(png|jpe?g|gif|webp|bmp|ico)$/i.test(e.name)) {
      var img = document.createElement('img');
      img.src = e.href;
      img.alt = e.name;
      side(e.name, img);
      return;
    }
    getJson(e.href + '?preview').then(function (j) {
      side(e.name, j.binary ? el('p', 'binary file, ' + human(j.size)) : el('pre', j.text + (j.truncated ? '\n\u2026' : '')));
    }, function (err) { side(e.name, el('p', err.message)); });
  }
  function info() {
    var parts = location.pathname.split('/').filter(Boolean);
    var url = parts.length ? '/' + parts[0] + '/?info' : '/?info';
    getJson(url).then(function (j) { side('info', el('pre', JSON.stringify(j, null, 2))); }, function (err) { side('info', el('p', err.message)); });
  }
  function zipSelection() {
    if (!state.selected.size) return;
    var form = $('zip-form');
    form.textContent = '';
    state.selected.forEach(function (n) {
      var i = document.createElement('input');
      i.type = 'hidden'; i.name = 'name'; i.value = n;
      form.appendChild(i);
    });
    form.submit();
  }
  function search(q) {
    if (!q) { state.mode = 'list'; render(); return; }
    say('searching\u2026');
    getJson('?search=' + encodeURIComponent(q)).then(function (j) {
      state.results = j.results; state.truncated = j.truncated; state.mode = 'search'; state.cursor = 0;
      render();
    }, function (err) { say('search failed: ' + err.message); });
  }
  function setSort(k) {
    if (state.sort === k) state.desc = !state.desc; else { state.sort = k; state.desc = false; }
    render();
  }

  document.addEventListener('DOMContentLoaded', function () {
    tbody = document.querySelector('#list tbody');
    status = $('status');
    $('filter').addEventListener('input', render);
    $('search').addEventListener('keydown', function (ev) { if (ev.key === 'Enter') { ev.preventDefault(); search($('search').value); $('search').blur(); } });
    $('zip-selection').addEventListener('click', zipSelection);
    $('info-button').addEventListener('click', info);
    $('side-close').addEventListener('click', function () { $('side').hidden = true; });
    $('select-all').addEventListener('change', function (ev) {
      if (ev.target.checked) state.shown.forEach(function (e) { state.selected.add(e.name); }); else state.selected.clear();
      render();
    });
    document.querySelectorAll('th button[data-sort]').forEach(function (b) { b.addEventListener('click', function () { setSort(b.dataset.sort); }); });
    document.addEventListener('keydown', function (ev) {
      var t = ev.target;
      if (t && (t.tagName === 'INPUT' && t.type !== 'checkbox')) {
        if (ev.key === 'Escape') { t.value = ''; t.blur(); if (t.id === 'search') search(''); else render(); }
        else if (ev.key === 'ArrowDown' || ev.key === 'Enter') { if (t.id === 'filter') { t.blur(); } }
        return;
      }
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      var k = ev.key, handled = true;
      if (k === 'j' || k === 'ArrowDown') state.cursor = Math.min(state.shown.length - 1, state.cursor + 1);
      else if (k === 'k' || k === 'ArrowUp') state.cursor = Math.max(0, state.cursor - 1);
      else if (k === 'Home') state.cursor = 0;
      else if (k === 'End') state.cursor = state.shown.length - 1;
      else if (k === 'Enter' || k === 'l' || k === 'ArrowRight') { open(current()); return ev.preventDefault(); }
      else if (k === 'Backspace' || k === 'h' || k === 'ArrowLeft') { up(); return ev.preventDefault(); }
      else if (k === ' ') { var c = current(); if (c) toggle(c); return ev.preventDefault(); }
      else if (k === '/') { $('filter').focus(); return ev.preventDefault(); }
      else if (k === 's') { $('search').focus(); return ev.preventDefault(); }
      else if (k === 'p') { preview(current()); return; }
      else if (k === 'd') { var e = current(); if (e && e.type === 'dir') location.href = e.href + '?zip'; else open(e); return; }
      else if (k === 'z') { zipSelection(); return; }
      else if (k === 'n') setSort('name');
      else if (k === 'S') setSort('size');
      else if (k === 'm') setSort('mtime');
      else if (k === 'i') { info(); return; }
      else if (k === '?') { $('help').showModal(); return; }
      else if (k === 'Escape') { $('side').hidden = true; if (state.mode === 'search') { $('search').value = ''; search(''); } return; }
      else handled = false;
      if (handled) { ev.preventDefault(); render(); }
    });
    load();
  });
})();
`;

export const APP_CSS = String.raw`
:root { color-scheme: light dark; --fg: #1b1f23; --bg: #fff; --muted: #6a737d; --line: #e1e4e8; --hi: #dbe9ff; --accent: #0366d6; }
@media (prefers-color-scheme: dark) { :root { --fg: #e1e4e8; --bg: #16181b; --muted: #959da5; --line: #2f363d; --hi: #1f3a5f; --accent: #58a6ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { position: sticky; top: 0; background: var(--bg); border-bottom: 1px solid var(--line); padding: 8px 12px; z-index: 1; }
nav a { color: var(--accent); text-decoration: none; font-weight: 600; word-break: break-all; }
nav .sep { color: var(--muted); }
#tools { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; align-items: center; }
#tools input { flex: 1 1 10em; min-width: 8em; padding: 4px 6px; }
#tools a, #tools button { padding: 4px 8px; }
main { display: flex; align-items: flex-start; }
table#list { border-collapse: collapse; width: 100%; }
#list th { text-align: left; font-weight: 600; border-bottom: 1px solid var(--line); padding: 4px 8px; }
#list th button { all: unset; cursor: pointer; }
#list td { padding: 3px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
#list td.name { white-space: normal; word-break: break-all; width: 100%; }
#list td.name.dir a { font-weight: 600; }
#list td.name a { color: var(--accent); text-decoration: none; }
#list td.num, #list th.num { text-align: right; }
#list .target { color: var(--muted); }
#list tr.cursor { background: var(--hi); }
#list .sel { width: 2em; }
aside { flex: 0 0 40%; max-width: 40%; border-left: 1px solid var(--line); padding: 8px; position: sticky; top: 90px; max-height: calc(100vh - 100px); overflow: auto; }
aside pre { white-space: pre-wrap; word-break: break-all; font-size: 12px; }
aside img { max-width: 100%; }
#side-head { display: flex; justify-content: space-between; gap: 8px; word-break: break-all; }
footer { position: sticky; bottom: 0; background: var(--bg); border-top: 1px solid var(--line); padding: 4px 12px; color: var(--muted); }
@media (max-width: 700px) {
  main { display: block; }
  aside { max-width: none; position: static; border-left: 0; border-top: 1px solid var(--line); }
  #list th:nth-child(4), #list td:nth-child(4) { display: none; }
}
`;
