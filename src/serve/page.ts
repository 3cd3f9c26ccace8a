/**
 * The web page `serve` shows a browser: one static shell for every folder, its script and its
 * style served from the package itself under /.diskpick/ (no CDN, no external fonts: restores
 * happen on isolated networks). The script asks the JSON endpoints of api.ts and inserts every
 * name from the image as text (textContent), never as markup; the page's CSP allows only the
 * page's own script and style.
 */
import { APP_CSS, APP_JS } from './assets.js';

export const ASSETS: Record<string, { type: string; body: string }> = {
  'app.js': { type: 'text/javascript; charset=utf-8', body: APP_JS },
  'app.css': { type: 'text/css; charset=utf-8', body: APP_CSS },
};

export function pageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>diskpick</title>
<link rel="stylesheet" href="/.diskpick/app.css">
<script src="/.diskpick/app.js" defer></script>
</head>
<body>
<header>
  <nav id="crumbs" aria-label="path"></nav>
  <div id="tools">
    <input id="filter" type="search" placeholder="filter (/)" aria-label="filter this folder" autocomplete="off">
    <input id="search" type="search" placeholder="search below (s), e.g. *.docx" aria-label="search below this folder" autocomplete="off">
    <button id="zip-selection" type="button" disabled>Download selection (z)</button>
    <a id="zip-folder" href="?zip">Folder as ZIP</a>
    <button id="info-button" type="button">Info (i)</button>
  </div>
</header>
<main>
  <table id="list">
    <thead><tr>
      <th class="sel"><input id="select-all" type="checkbox" aria-label="select all"></th>
      <th><button type="button" data-sort="name">Name</button></th>
      <th class="num"><button type="button" data-sort="size">Size</button></th>
      <th><button type="button" data-sort="mtime">Modified</button></th>
    </tr></thead>
    <tbody></tbody>
  </table>
  <aside id="side" hidden>
    <div id="side-head"><strong id="side-title"></strong><button id="side-close" type="button" aria-label="close">&times;</button></div>
    <div id="side-body"></div>
  </aside>
</main>
<footer id="status" role="status"></footer>
<form id="zip-form" method="post" action="?zip" hidden></form>
<dialog id="help">
  <h2>Keys</h2>
  <table>
    <tr><td>j / &darr;, k / &uarr;</td><td>move</td></tr>
    <tr><td>Enter, l / &rarr;</td><td>open folder, download file</td></tr>
    <tr><td>Backspace, h / &larr;</td><td>up one folder</td></tr>
    <tr><td>Space</td><td>select</td></tr>
    <tr><td>/</td><td>filter this folder</td></tr>
    <tr><td>s</td><td>search below this folder</td></tr>
    <tr><td>p</td><td>preview</td></tr>
    <tr><td>d</td><td>download the file or folder (ZIP)</td></tr>
    <tr><td>z</td><td>download the selection as ZIP</td></tr>
    <tr><td>n, S, m</td><td>sort by name, size, modified</td></tr>
    <tr><td>i</td><td>image and volume info</td></tr>
    <tr><td>Esc</td><td>close, clear</td></tr>
  </table>
  <form method="dialog"><button>Close</button></form>
</dialog>
</body>
</html>
`;
}
