// The coordinators' map: cells coloured by share verified, outlines, premises from zoom 14,
// drone footprints on demand; a click on a cell shows its numbers (GET /api/v1/coverage of the
// cell), workers and never-inspected premises; suspected sites are points (outlines from zoom
// 14) coloured by case status, and a click on one shows its name, status, classes, last action,
// overdue flag and image thumbnails (GET /api/v1/sites/{id}, its actions and media); the side
// panel ranks the children of the
// current region by coverage; the chart draws the daily series. Every request carries the
// bearer token of the login page; tiles get it through transformRequest.
(function () {
  'use strict';
  const token = sessionStorage.getItem('sieve.token');
  if (!token) { location.href = '/login'; return; }
  const cfg = window.SIEVE_CONFIG || {};
  const origin = location.origin;
  const state = {root: null, region: null, stack: [], round: null, cell: null};

  async function api(path, opts) {
    const res = await fetch(path, Object.assign({headers: {
      'Authorization': 'Bearer ' + token, 'Accept-Language': 'zh-CN', 'Content-Type': 'application/json'}}, opts || {}));
    if (res.status === 401) { sessionStorage.removeItem('sieve.token'); location.href = '/login'; throw new Error('401'); }
    const body = res.status === 204 ? null : await res.json();
    if (!res.ok) { throw new Error((body && body.error && body.error.message) || res.statusText); }
    return body;
  }
  const pct = (v) => (v * 100).toFixed(1) + '%';
  const colour = (v) => v >= 0.9 ? '#1a9850' : v >= 0.6 ? '#a6d96a' : v >= 0.3 ? '#fdae61' : '#d73027';

  const sources = {
    regions: {type: 'vector', tiles: [origin + '/tiles/regions/{z}/{x}/{y}.mvt'], minzoom: 0, maxzoom: 14},
    cells: {type: 'vector', tiles: [origin + '/tiles/cells/{z}/{x}/{y}.mvt'], minzoom: 9, maxzoom: 15},
    premises: {type: 'vector', tiles: [origin + '/tiles/premises/{z}/{x}/{y}.mvt'], minzoom: 14, maxzoom: 16},
    footprints: {type: 'vector', tiles: [origin + '/tiles/footprints/{z}/{x}/{y}.mvt'], minzoom: 12, maxzoom: 16},
    sites: {type: 'vector', tiles: [origin + '/tiles/sites/{z}/{x}/{y}.mvt'], minzoom: 9, maxzoom: 16},
  };
  // The case workflow's statuses, the five situations, the disposal actions and departments,
  // as coordinators read them (DESIGN.md).
  const siteStatus = {suspected: '疑似', verified_illegal: '查实违法', cleared: '已排除', under_disposal: '处置中',
    rectified: '已整改', closed: '已结案'};
  const siteStatusColour = {suspected: '#e31a1c', verified_illegal: '#800026', cleared: '#969696', under_disposal: '#fd8d3c',
    rectified: '#41ab5d', closed: '#2171b5'};
  const siteClass = {unlicensed: '无证无照或证照不全', beyond_licence: '超许可范围生产储存', non_chemical_producing: '非化工企业未经许可生产',
    exited_producing: '已退出企业非法生产', affiliated_leased: '挂靠、租赁', factory_in_factory: '厂中厂', other: '其他违法违规行为'};
  const siteAction = {suspend_rectify: '责令停产整顿', obtain_permits: '限期办理相关手续', verify_dismantled: '核实生产装置拆除',
    suspend_production: '责令停产', dismantle_by_deadline: '限期拆除', seal_up: '查封非法生产装置', stop_production: '责令停止生产',
    eliminate_hazards: '消除事故隐患', fine: '罚款', landlord_liability: '追究出租方责任', judicial_transfer: '移送司法机关',
    public_accountability: '公开问责', credit_listing: '纳入信用惩戒'};
  const department = {public_security: '公安', market_regulation: '市场监管', emergency_management: '应急管理',
    ecology_environment: '生态环境', transport: '交通运输', township: '乡镇'};
  const statusColourExpr = ['match', ['get', 'status']].concat(...Object.entries(siteStatusColour)).concat(['#e31a1c']);
  const layers = [{id: 'background', type: 'background', paint: {'background-color': '#eef1f4'}}];
  if (cfg.tiandituKey) {
    const t = (layer) => 'https://t0.tianditu.gov.cn/' + layer + '_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=' +
      layer + '&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILECOL={x}&TILEROW={y}&TILEMATRIX={z}&tk=' + encodeURIComponent(cfg.tiandituKey);
    sources.tdt = {type: 'raster', tiles: [t('vec')], tileSize: 256, attribution: '天地图'};
    sources.tdtLabels = {type: 'raster', tiles: [t('cva')], tileSize: 256};
    layers.push({id: 'tdt', type: 'raster', source: 'tdt'}, {id: 'tdt-labels', type: 'raster', source: 'tdtLabels'});
  }
  const shareColour = ['interpolate', ['linear'], ['get', 'share_verified'], 0, '#d73027', 0.3, '#fdae61', 0.6, '#a6d96a', 0.9, '#1a9850'];
  layers.push(
    {id: 'cells-fill', type: 'fill', source: 'cells', 'source-layer': 'cells',
      paint: {'fill-color': shareColour, 'fill-opacity': 0.55}},
    {id: 'cells-line', type: 'line', source: 'cells', 'source-layer': 'cells', paint: {'line-color': '#666', 'line-width': 0.5}},
    {id: 'cells-stale', type: 'line', source: 'cells', 'source-layer': 'cells', filter: ['==', ['get', 'id'], -1],
      paint: {'line-color': '#7b2cbf', 'line-width': 2.5}},
    {id: 'cells-selected', type: 'line', source: 'cells', 'source-layer': 'cells', filter: ['==', ['id'], -1],
      paint: {'line-color': '#000', 'line-width': 3}},
    {id: 'footprints', type: 'fill', source: 'footprints', 'source-layer': 'footprints', layout: {visibility: 'none'},
      paint: {'fill-color': '#3182bd', 'fill-opacity': 0.25, 'fill-outline-color': '#08519c'}},
    {id: 'regions-line', type: 'line', source: 'regions', 'source-layer': 'regions',
      paint: {'line-color': '#1f3b57', 'line-width': ['match', ['get', 'level'], 'township', 2, 1]}},
    {id: 'premises', type: 'circle', source: 'premises', 'source-layer': 'premises',
      paint: {'circle-radius': 3.5, 'circle-stroke-width': 0.5, 'circle-stroke-color': '#fff',
        'circle-color': ['match', ['get', 'status'], 'verified', '#1a9850', 'flagged', '#f46d43', 'visited', '#fee08b', 'due', '#7b2cbf', '#d73027']}},
    {id: 'sites-outline', type: 'fill', source: 'sites', 'source-layer': 'sites', filter: ['==', ['geometry-type'], 'Polygon'],
      paint: {'fill-color': statusColourExpr, 'fill-opacity': 0.45, 'fill-outline-color': '#000'}},
    {id: 'sites-point', type: 'circle', source: 'sites', 'source-layer': 'sites', filter: ['==', ['geometry-type'], 'Point'],
      paint: {'circle-radius': 6, 'circle-color': statusColourExpr, 'circle-stroke-color': ['case', ['get', 'overdue'], '#000', '#fff'],
        'circle-stroke-width': ['case', ['get', 'overdue'], 2.5, 1]}},
    {id: 'region-labels', type: 'symbol', source: 'regions', 'source-layer': 'regions',
      layout: {'text-field': ['get', 'name'], 'text-size': ['match', ['get', 'level'], 'township', 15, 12], 'text-font': ['local'],
        'symbol-placement': 'point'},
      paint: {'text-color': '#1f3b57', 'text-halo-color': '#fff', 'text-halo-width': 1.5}});

  const map = new maplibregl.Map({
    container: 'map',
    // Labels are Chinese names: MapLibre draws ideographs from the local font and asks the glyph
    // URL only for other characters, which the server answers with empty glyph sets.
    style: {version: 8, sources: sources, layers: layers, glyphs: origin + '/map/glyphs/{fontstack}/{range}.pbf'},
    localIdeographFontFamily: "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', 'PingFang SC', sans-serif",
    center: [113.47, 34.15], zoom: 9, maxZoom: 18, attributionControl: false,
    transformRequest: (url) => url.startsWith(origin + '/tiles/') ? {url: url, headers: {'Authorization': 'Bearer ' + token}} : undefined,
  });
  map.addControl(new maplibregl.NavigationControl({showCompass: false}));
  window.sieveMap = map; // for the browser test and the curious

  function setNumbers(n, extra) {
    document.querySelectorAll('#cell-panel [data-k]').forEach((td) => {
      const k = td.dataset.k;
      let v = n[k];
      if (k === 'shareVerified' || k === 'droneShare') v = pct(v);
      else if (k === 'lastInspection') v = v ? new Date(v).toLocaleString('zh-CN') : '—';
      else if (k === 'workers') v = (n.workers || []).map((w) => w.displayName || ('#' + w.id)).join('、') || '—';
      else if (v === null || v === undefined) v = '—';
      td.textContent = String(v);
      td.dataset.v = k === 'workers' ? '' : String(n[k]);
    });
  }

  async function showCell(id) {
    state.cell = id;
    map.setFilter('cells-selected', ['==', ['id'], id]);
    const [rep, gaps] = await Promise.all([
      api('/api/v1/coverage?region=' + id + (state.round ? '&round=' + state.round : '')),
      api('/api/v1/coverage/gaps?region=' + id + (state.round ? '&round=' + state.round : ''))]);
    const panel = document.getElementById('cell-panel');
    panel.hidden = false;
    panel.dataset.cell = String(id);
    document.getElementById('cell-name').textContent = rep.region.name;
    setNumbers(rep.region);
    const ul = document.getElementById('cell-gaps');
    ul.innerHTML = '';
    gaps.neverInspected.forEach((p) => {
      const li = document.createElement('li');
      li.textContent = p.name + (p.address ? '（' + p.address + '）' : '');
      ul.appendChild(li);
    });
    if (!gaps.neverInspected.length) ul.innerHTML = '<li>无</li>';
    document.getElementById('cell-tasks-result').textContent = '';
    panel.dataset.ready = 'yes';
  }

  document.getElementById('cell-tasks').addEventListener('click', async () => {
    const out = document.getElementById('cell-tasks-result');
    try {
      const r = await api('/api/v1/coverage/gaps/tasks', {method: 'POST', body: JSON.stringify({gap: 'unverified', cellId: state.cell})});
      out.textContent = '新增任务 ' + r.added + ' 条，已有 ' + r.open + ' 条';
    } catch (e) { out.textContent = e.message; }
  });

  // A thumbnail needs the bearer token: fetched as a blob and shown from an object URL.
  async function imageURL(path) {
    const res = await fetch(path, {headers: {'Authorization': 'Bearer ' + token}});
    if (!res.ok) throw new Error(res.statusText);
    return URL.createObjectURL(await res.blob());
  }

  async function showSite(id) {
    const [site, actions, media] = await Promise.all([api('/api/v1/sites/' + id), api('/api/v1/sites/' + id + '/actions'),
      api('/api/v1/sites/' + id + '/media')]);
    const panel = document.getElementById('site-panel');
    panel.hidden = false;
    panel.dataset.ready = 'no';
    panel.dataset.site = String(id);
    document.getElementById('site-name').textContent = site.firmName || ('疑似点 #' + site.id);
    const st = document.getElementById('site-status');
    st.textContent = siteStatus[site.status] || site.status;
    st.dataset.v = site.status;
    st.style.color = siteStatusColour[site.status] || '';
    document.getElementById('site-classes').textContent = site.classes.map((c) => siteClass[c] || c).join('、') || '—';
    const items = actions.items || [];
    const last = items.reduce((a, b) => (!a || b.createdAt > a.createdAt || (b.createdAt === a.createdAt && b.id > a.id) ? b : a), null);
    const la = document.getElementById('site-last-action');
    la.textContent = last ? (siteAction[last.action] || last.action) + '（' + (department[last.department] || last.department) +
      '，期限 ' + new Date(last.deadline).toLocaleDateString('zh-CN') + (last.doneAt ? '，已完成' : '') + '）' : '尚无处置';
    la.dataset.v = last ? last.action : '';
    const od = document.getElementById('site-overdue');
    od.textContent = site.overdueActions > 0 ? '逾期 ' + site.overdueActions + ' 项' : '无逾期';
    od.dataset.v = String(site.overdueActions);
    od.className = site.overdueActions > 0 ? 'overdue' : '';
    const box = document.getElementById('site-media');
    box.innerHTML = '';
    const list = media.items || [];
    document.getElementById('site-media-count').textContent = list.length ? '共 ' + list.length + ' 张' : '尚无影像';
    await Promise.all(list.map(async (m) => {
      if (!m.thumbnail) return;
      const a = document.createElement('a');
      a.target = '_blank';
      a.title = (m.source === 'drone_survey' ? '航拍' : '现场照片') + (m.takenAt ? ' ' + new Date(m.takenAt).toLocaleString('zh-CN') : '');
      const img = document.createElement('img');
      img.alt = a.title;
      try {
        img.src = await imageURL(m.thumbnail);
        a.href = m.detail ? await imageURL(m.detail) : img.src;
      } catch (e) { img.alt = '缩略图不可用'; }
      a.appendChild(img);
      box.appendChild(a);
    }));
    panel.dataset.ready = 'yes';
  }

  async function showRegion(id) {
    const rep = await api('/api/v1/coverage?region=' + id + (state.round ? '&round=' + state.round : ''));
    state.region = rep.region;
    state.round = rep.round.id;
    document.getElementById('round-name').textContent = rep.round.name + ' · ' + rep.region.name + ' 覆盖率 ' + pct(rep.region.shareVerified);
    document.getElementById('ranking-title').textContent = rep.region.name + ' 覆盖率排名';
    document.getElementById('ranking-up').hidden = state.stack.length === 0;
    const ol = document.getElementById('ranking');
    ol.innerHTML = '';
    rep.children.slice().sort((a, b) => a.shareVerified - b.shareVerified).forEach((c) => {
      const li = document.createElement('li');
      li.dataset.region = String(c.id);
      li.innerHTML = '<span></span> <small></small><div class="bar"><span></span></div>';
      li.querySelector('span').textContent = c.name;
      li.querySelector('small').textContent = pct(c.shareVerified) + '（' + c.verified + '/' + c.premises + '）';
      const bar = li.querySelector('.bar span');
      bar.style.width = pct(c.shareVerified);
      bar.style.background = colour(c.shareVerified);
      li.addEventListener('click', () => {
        if (c.level === 'cell') { showCell(c.id); zoomTo(c.id); return; }
        state.stack.push(id);
        showRegion(c.id);
        zoomTo(c.id);
      });
      ol.appendChild(li);
    });
    if (rep.region.level === 'city' || state.stack.length === 0) fillTownships(rep);
    drawChart(await api('/api/v1/coverage/series?region=' + id + '&round=' + state.round));
  }

  function fillTownships(rep) {
    const sel = document.getElementById('filter-township');
    if (sel.options.length > 1) return;
    rep.children.forEach((c) => {
      const o = document.createElement('option');
      o.value = String(c.id);
      o.textContent = c.name;
      sel.appendChild(o);
    });
  }

  async function zoomTo(id) {
    try {
      const f = await api('/api/v1/regions/' + id);
      const b = new maplibregl.LngLatBounds();
      const walk = (c) => { if (typeof c[0] === 'number') b.extend(c); else c.forEach(walk); };
      walk(f.geometry.coordinates);
      map.fitBounds(b, {padding: 30, duration: 0});
    } catch (e) { /* a region without boundary stays where the map is */ }
  }

  function drawChart(series) {
    const svg = document.getElementById('chart');
    const days = series.days;
    if (!days.length) { svg.innerHTML = '<text x="10" y="70" font-size="12">本轮尚无核实记录</text>'; return; }
    const w = 300, h = 110, x0 = 30, y0 = 10;
    const pts = days.map((d, i) => [x0 + (days.length === 1 ? w / 2 : i * (w - x0) / (days.length - 1)), y0 + h - d.shareVerified * h]);
    svg.innerHTML = '<line x1="' + x0 + '" y1="' + (y0 + h) + '" x2="' + w + '" y2="' + (y0 + h) + '" stroke="#999"/>' +
      '<text x="0" y="' + (y0 + 4) + '" font-size="10">100%</text><text x="8" y="' + (y0 + h) + '" font-size="10">0%</text>' +
      '<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="' + pts.map((p) => p.join(',')).join(' ') + '"/>' +
      pts.map((p) => '<circle cx="' + p[0] + '" cy="' + p[1] + '" r="2.5" fill="#1f77b4"/>').join('') +
      '<text x="' + (pts[pts.length - 1][0] - 20) + '" y="' + (pts[pts.length - 1][1] - 6) + '" font-size="10">' +
        pct(days[days.length - 1].shareVerified) + '</text>' +
      '<text x="' + x0 + '" y="' + (y0 + h + 14) + '" font-size="10">' + days[0].day + '</text>' +
      '<text x="' + (w - 60) + '" y="' + (y0 + h + 14) + '" font-size="10">' + days[days.length - 1].day + '</text>';
    svg.dataset.days = String(days.length);
  }

  document.getElementById('ranking-up').addEventListener('click', () => {
    const up = state.stack.pop();
    if (up) { showRegion(up); zoomTo(up); }
  });
  document.getElementById('filter-township').addEventListener('change', (ev) => {
    const id = Number(ev.target.value) || state.root;
    state.stack = id === state.root ? [] : [state.root];
    showRegion(id);
    zoomTo(id);
  });
  document.getElementById('filter-status').addEventListener('change', (ev) => {
    map.setFilter('premises', ev.target.value ? ['==', ['get', 'status'], ev.target.value] : null);
  });
  document.getElementById('filter-date').addEventListener('change', (ev) => {
    const d = ev.target.value;
    map.setFilter('cells-stale', d ? ['any', ['!', ['has', 'last_day']], ['<', ['get', 'last_day'], d]] : ['==', ['get', 'id'], -1]);
  });
  document.getElementById('toggle-footprints').addEventListener('change', (ev) => {
    map.setLayoutProperty('footprints', 'visibility', ev.target.checked ? 'visible' : 'none');
  });
  document.getElementById('logout').addEventListener('click', async () => {
    try { await api('/api/v1/auth/logout', {method: 'POST'}); } catch (e) { /* gone anyway */ }
    sessionStorage.removeItem('sieve.token');
    location.href = '/login';
  });
  // A click on a site shows the site; elsewhere on a cell, the cell.
  map.on('click', (ev) => {
    const site = map.queryRenderedFeatures(ev.point, {layers: ['sites-point', 'sites-outline']});
    if (site.length) { showSite(site[0].id); return; }
    const cell = map.queryRenderedFeatures(ev.point, {layers: ['cells-fill']});
    if (cell.length) showCell(cell[0].id);
  });
  ['cells-fill', 'sites-point', 'sites-outline'].forEach((l) => {
    map.on('mouseenter', l, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', l, () => { map.getCanvas().style.cursor = ''; });
  });

  (async function start() {
    const me = await api('/api/v1/me');
    document.getElementById('who').textContent = me.displayName || me.username;
    let root = me.regionId;
    if (!root) {
      const cities = await api('/api/v1/regions?level=city&geometry=false&limit=1');
      root = cities.features.length ? cities.features[0].id : null;
    }
    if (!root) return;
    state.root = root;
    await showRegion(root);
    await zoomTo(root);
    document.body.dataset.ready = 'yes';
  })().catch((e) => { document.getElementById('round-name').textContent = e.message; });
})();
