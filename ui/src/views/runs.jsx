// #/experiments/<id>: the experiment's runs, in a table that stays fast at
// 100k runs. Only the rows in view are in the DOM; they are read from the
// server a page (100 runs) at a time at any offset, sorted and filtered
// there with MLflow's search grammar. Columns are chosen per experiment
// (saved in localStorage); rows can be selected for bulk delete, restore
// and tagging.
//
// Query: ?filter=<mlflow filter>&order=<order_by clause>&view=ALL|DELETED_ONLY
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  countRuns, deleteRun, getExperiment, offsetToken, restoreRun, runColumns, searchRuns, setRunTag,
} from '../api.js';
import { route } from '../route.js';
import { fmtNumber, runDuration, runName, tagMap } from '../format.js';
import { Chip, ErrorBox, KV, StatusBadge, Time, preactView, toggleKey } from '../components.jsx';
import { MAX_COMPARE } from './compare.jsx';

const PAGE = 100;
const OVERSCAN = 10; // rows rendered above and below the viewport
const DEFAULT_ROW_H = 33;
const MAX_DEFAULT_KEYS = 12; // params or metrics shown when nothing was chosen
// Column widths in px (the table has a fixed layout: rows that scroll in
// do not move the columns).
const SEL_W = 34;
const NAME_W = 220;
const PARAM_W = 120;
const METRIC_W = 112;
const TAG_W = 140;

/** "metrics.`val loss` DESC" → {key: "metrics.`val loss`", desc: true} */
export function parseOrder(s) {
  if (!s) return null;
  const m = /^(.*?)\s+(ASC|DESC)$/i.exec(s.trim());
  return m ? { key: m[1], desc: m[2].toUpperCase() === 'DESC' } : { key: s.trim(), desc: false };
}
const orderString = (o) => `${o.key} ${o.desc ? 'DESC' : 'ASC'}`;
const quoteKey = (k) => '`' + k.replace(/`/g, '``') + '`';

// Attribute columns: label, sort key (null: not sortable), first direction, width.
const ATTRS = [
  { id: 'status', label: 'Status', sort: 'attributes.status', width: 96 },
  { id: 'start_time', label: 'Start time', sort: 'attributes.start_time', desc: true, width: 172 },
  { id: 'duration', label: 'Duration', sort: null, width: 84, num: true },
  { id: 'user_id', label: 'User', sort: 'attributes.user_id', width: 110 },
  { id: 'end_time', label: 'End time', sort: 'attributes.end_time', desc: true, width: 172 },
  { id: 'run_id', label: 'Run ID', sort: null, width: 140 },
  { id: 'source', label: 'Source', sort: 'tags.`mlflow.source.name`', width: 160 },
];
const DEFAULT_ATTRS = ['status', 'start_time', 'duration', 'user_id'];

const storageKey = (expId) => `mlbox:runs-columns:${expId}`;

function loadChoice(expId) {
  try {
    const v = JSON.parse(localStorage.getItem(storageKey(expId)) || 'null');
    if (v && Array.isArray(v.attrs) && Array.isArray(v.params) && Array.isArray(v.metrics) && Array.isArray(v.tags)) return v;
  } catch { /* a bad entry is ignored */ }
  return null;
}

function saveChoice(expId, choice) {
  try { localStorage.setItem(storageKey(expId), JSON.stringify(choice)); } catch { /* storage full or off */ }
}

/** The columns shown: the saved choice (keys that still exist), else defaults. */
function shownColumns(choice, avail) {
  if (!choice) {
    return {
      attrs: DEFAULT_ATTRS,
      params: avail.params.slice(0, MAX_DEFAULT_KEYS),
      metrics: avail.metrics.slice(0, MAX_DEFAULT_KEYS),
      tags: [],
    };
  }
  const keep = (list, have) => list.filter((k) => have.includes(k));
  return {
    attrs: ATTRS.map((a) => a.id).filter((id) => choice.attrs.includes(id)),
    params: keep(choice.params, avail.params),
    metrics: keep(choice.metrics, avail.metrics),
    tags: keep(choice.tags, avail.tags),
  };
}

function RunsPage({ ctx, query }) {
  const expId = ctx.params[0];
  const [q, setQ] = useState(() => fromQuery(query));
  const qs = query.toString();
  useEffect(() => { setQ(fromQuery(query)); }, [qs]);

  const [exp, setExp] = useState(null);
  const [expErr, setExpErr] = useState(null);
  const [avail, setAvail] = useState({ params: [], metrics: [], tags: [] });
  const [choice, setChoice] = useState(() => loadChoice(expId));
  const [showChooser, setShowChooser] = useState(false);
  const [selected, setSelected] = useState(() => new Set());
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    ctx.title(`Experiment ${expId}`);
    ctx.track(getExperiment(expId, ctx.signal).then(({ experiment: e }) => {
      if (e) { setExp(e); ctx.title(e.name); }
    }, (e) => { if (!ctx.signal.aborted) setExpErr(e); }));
    ctx.track(runColumns(expId, ctx.signal).then(setAvail, () => {}));
  }, [expId]);

  const cols = useMemo(() => shownColumns(choice, avail), [choice, avail]);

  function apply(next) {
    const n = { ...q, ...next };
    setQ(n);
    setSelected(new Set());
    ctx.setQuery({ filter: n.filter, order: n.order ? orderString(n.order) : '', view: n.view });
  }
  function sortBy(key, firstDesc) {
    const o = q.order && q.order.key === key ? { key, desc: !q.order.desc } : { key, desc: !!firstDesc };
    apply({ order: o });
  }
  function choose(next) {
    setChoice(next);
    saveChoice(expId, next);
  }

  const name = exp ? (exp.name || `Experiment ${expId}`) : `Experiment ${expId}`;
  return (
    <>
      <nav class="crumbs"><a href="#/experiments">Experiments</a> / <span>{name}</span></nav>
      <div class="page-head">
        <h1 data-testid="experiment-name">{name}{exp && exp.lifecycle_stage === 'deleted' ? <Chip cls="chip-bad">deleted</Chip> : null}</h1>
      </div>
      <ExperimentMeta exp={exp} err={expErr} />
      <FilterBar q={q} apply={apply} />
      <div class="toolbar runs-actions">
        <button type="button" class="secondary" data-testid="columns-button" aria-expanded={showChooser ? 'true' : 'false'}
          onClick={() => setShowChooser(!showChooser)}>Columns</button>
        <BulkActions ctx={ctx} selected={selected} setSelected={setSelected} onDone={() => setReloads((n) => n + 1)} />
      </div>
      {showChooser ? <ColumnChooser avail={avail} cols={cols} choose={choose} close={() => setShowChooser(false)} /> : null}
      <RunsTable ctx={ctx} expId={expId} q={q} cols={cols} sortBy={sortBy} reloads={reloads}
        selected={selected} setSelected={setSelected} />
    </>
  );
}

function fromQuery(query) {
  return { filter: query.get('filter') || '', order: parseOrder(query.get('order')), view: query.get('view') || '' };
}

function ExperimentMeta({ exp, err }) {
  if (err) return <div class="exp-meta"><ErrorBox err={err} testid="experiment-error" title="Could not load the experiment" /></div>;
  if (!exp) return <div class="exp-meta" />;
  const tags = tagMap(exp.tags);
  const note = tags.get('mlflow.note.content');
  const userTags = (exp.tags || []).filter((t) => !t.key.startsWith('mlflow.'));
  return (
    <div class="exp-meta">
      <KV testid="experiment-meta" pairs={[
        ['Experiment ID', <span class="mono">{exp.experiment_id}</span>],
        ['Artifact location', <span class="mono">{exp.artifact_location || ''}</span>],
        ['Created', <Time ms={exp.creation_time} />],
        ['Last updated', <Time ms={exp.last_update_time} />],
        ['Tags', userTags.length ? userTags.map((t) => <Chip key={t.key}>{`${t.key}: ${t.value}`}</Chip>) : ''],
      ]} />
      {note ? <p class="note">{note}</p> : null}
    </div>
  );
}

function FilterBar({ q, apply }) {
  const input = useRef(null);
  useEffect(() => { if (input.current) input.current.value = q.filter; }, [q.filter]);
  return (
    <form class="toolbar filter-bar" data-testid="runs-filter-form" role="search"
      onSubmit={(ev) => { ev.preventDefault(); apply({ filter: input.current.value.trim() }); }}>
      <input ref={input} type="search" class="filter-input mono" data-testid="runs-filter" spellcheck={false}
        autocomplete="off" aria-label="Filter runs (MLflow search syntax)"
        placeholder="e.g. metrics.accuracy > 0.9 and params.model = 'tree' and attributes.status = 'FINISHED'" />
      <button type="submit" data-testid="runs-filter-apply">Search</button>
      <button type="button" class="secondary" data-testid="runs-filter-clear"
        onClick={() => { input.current.value = ''; apply({ filter: '' }); }}>Clear</button>
      <select data-testid="runs-view-type" aria-label="Which runs" value={q.view}
        onChange={(ev) => apply({ view: ev.currentTarget.value })}>
        <option value="">Active runs</option>
        <option value="DELETED_ONLY">Deleted runs</option>
        <option value="ALL">All runs</option>
      </select>
    </form>
  );
}

function BulkActions({ ctx, selected, setSelected, onDone }) {
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const key = useRef(null);
  const value = useRef(null);
  if (!selected.size) return <span class="muted bulk-hint">Select runs to delete, restore or tag them.</span>;
  async function each(fn) {
    setBusy(true);
    setErr(null);
    try {
      for (const id of selected) await fn(id);
      setSelected(new Set());
      onDone();
    } catch (e) {
      if (!ctx.signal.aborted) setErr(e);
    } finally {
      setBusy(false);
    }
  }
  const run = (fn) => ctx.track(each(fn));
  return (
    <div class="bulk" data-testid="bulk-actions">
      <span data-testid="bulk-count">{selected.size} selected</span>
      {selected.size <= MAX_COMPARE ? (
        <a class="button" data-testid="bulk-compare" href={`#/compare?runs=${[...selected].map(encodeURIComponent).join(',')}`}>Compare</a>
      ) : <span class="muted">Compare takes up to {MAX_COMPARE} runs</span>}
      <button type="button" class="danger" disabled={busy} data-testid="bulk-delete"
        onClick={() => run((id) => deleteRun(id, ctx.signal))}>Delete</button>
      <button type="button" class="secondary" disabled={busy} data-testid="bulk-restore"
        onClick={() => run((id) => restoreRun(id, ctx.signal))}>Restore</button>
      <form class="bulk-tag" onSubmit={(ev) => {
        ev.preventDefault();
        const k = key.current.value.trim();
        if (!k) { key.current.focus(); return; }
        run((id) => setRunTag(id, k, value.current.value, ctx.signal));
      }}>
        <input ref={key} class="mono" placeholder="tag key" aria-label="Tag key" data-testid="bulk-tag-key" />
        <input ref={value} class="mono" placeholder="value" aria-label="Tag value" data-testid="bulk-tag-value" />
        <button type="submit" class="secondary" disabled={busy} data-testid="bulk-tag-apply">Set tag</button>
      </form>
      <button type="button" class="link" onClick={() => setSelected(new Set())}>Clear selection</button>
      {err ? <ErrorBox err={err} testid="bulk-error" title="Not all selected runs were changed" /> : null}
    </div>
  );
}

function ColumnChooser({ avail, cols, choose, close }) {
  const [find, setFind] = useState('');
  const f = find.trim().toLowerCase();
  const set = (group, list) => choose({ ...cols, [group]: list });
  const group = (id, title, keys, shown, label = (k) => k) => {
    const visible = keys.filter((k) => !f || label(k).toLowerCase().includes(f));
    return (
      <fieldset class="col-group" data-testid={`columns-${id}`}>
        <legend>{title} <span class="muted">({shown.length}/{keys.length})</span></legend>
        <div class="col-group-actions">
          <button type="button" class="link" onClick={() => set(id, keys.slice())}>All</button>
          <button type="button" class="link" onClick={() => set(id, [])}>None</button>
        </div>
        <div class="col-list">
          {visible.length ? visible.map((k) => (
            <label key={k} class="col-item">
              <input type="checkbox" data-testid="col-toggle" data-col={`${id}:${k}`} checked={shown.includes(k)}
                onChange={(ev) => set(id, toggleKey(keys, shown, k, ev.currentTarget.checked))} />
              <span class="trunc" title={label(k)}>{label(k)}</span>
            </label>
          )) : <span class="muted">none</span>}
        </div>
      </fieldset>
    );
  };
  const attrLabel = (id) => (ATTRS.find((a) => a.id === id) || { label: id }).label;
  return (
    <section class="card col-chooser" data-testid="columns-panel" aria-label="Columns">
      <div class="toolbar">
        <input type="search" placeholder="Find a column" aria-label="Find a column" value={find}
          data-testid="columns-find" onInput={(ev) => setFind(ev.currentTarget.value)} />
        <button type="button" class="secondary" onClick={close}>Done</button>
      </div>
      <div class="col-groups">
        {group('attrs', 'Attributes', ATTRS.map((a) => a.id), cols.attrs, attrLabel)}
        {group('params', 'Parameters', avail.params, cols.params)}
        {group('metrics', 'Metrics', avail.metrics, cols.metrics)}
        {group('tags', 'Tags', avail.tags, cols.tags)}
      </div>
    </section>
  );
}

/**
 * The virtualized table. Pages of PAGE runs are fetched by offset as they
 * scroll into view and kept until the search changes.
 */
function RunsTable({ ctx, expId, q, cols, sortBy, reloads, selected, setSelected }) {
  const scroller = useRef(null);
  const [count, setCount] = useState(null);
  const [err, setErr] = useState(null);
  const [win, setWin] = useState({ top: 0, height: 800 });
  const [rowH, setRowH] = useState(DEFAULT_ROW_H);
  const [, setTick] = useState(0);
  const data = useRef({ gen: 0, pages: new Map(), inflight: new Set(), loaded: 0 });
  const want = useRef(() => {});
  const searchKey = JSON.stringify([q.filter, q.order && orderString(q.order), q.view, reloads]);

  // A new search: forget the pages, count again, back to the top.
  useEffect(() => {
    const d = data.current;
    d.gen++;
    d.pages = new Map();
    d.inflight = new Set();
    d.loaded = 0;
    setErr(null);
    setCount(null);
    if (scroller.current) scroller.current.scrollTop = 0;
    setWin((w) => ({ ...w, top: 0 }));
    const gen = d.gen;
    ctx.track(countRuns({ experimentId: expId, filter: q.filter, viewType: q.view || undefined, signal: ctx.signal })
      .then((n) => { if (gen === d.gen) setCount(n); }, (e) => {
        if (gen === d.gen && !ctx.signal.aborted) { setErr(e); setCount(0); }
      }));
    fetchPage(0);
  }, [searchKey]);

  function fetchPage(p) {
    const d = data.current;
    if (d.pages.has(p) || d.inflight.has(p)) return;
    d.inflight.add(p);
    const gen = d.gen;
    ctx.track(searchRuns({
      experimentId: expId, filter: q.filter, viewType: q.view || undefined,
      orderBy: q.order ? [orderString(q.order)] : undefined,
      pageToken: offsetToken(p * PAGE), maxResults: PAGE, signal: ctx.signal,
    }).then((resp) => {
      if (gen !== d.gen) return;
      d.inflight.delete(p);
      d.pages.set(p, resp.runs || []);
      d.loaded += (resp.runs || []).length;
      setTick((t) => t + 1);
    }, (e) => {
      if (gen !== d.gen || ctx.signal.aborted) return;
      d.inflight.delete(p);
      setErr(e);
    }));
  }

  // Follow the scroll position (once per frame) and the viewport size.
  useEffect(() => {
    const el = scroller.current;
    if (!el) return undefined;
    let raf = 0;
    const measure = () => {
      raf = 0;
      const w = { top: el.scrollTop, height: el.clientHeight || 800 };
      want.current(w); // start the fetches now, not after the next paint
      setWin(w);
    };
    const onScroll = () => { if (!raf) raf = requestAnimationFrame(measure); };
    el.addEventListener('scroll', onScroll, { passive: true });
    const ro = new ResizeObserver(onScroll);
    ro.observe(el);
    measure();
    return () => { el.removeEventListener('scroll', onScroll); ro.disconnect(); if (raf) cancelAnimationFrame(raf); };
  }, []);

  const total = count ?? (data.current.pages.get(0) || []).length;
  const first = Math.max(0, Math.floor(win.top / rowH) - OVERSCAN);
  const last = Math.min(total, Math.ceil((win.top + win.height) / rowH) + OVERSCAN);

  // Fetch the pages a window needs: from the scroll handler at once, and
  // after each render (a new search, a count that arrived).
  want.current = (w) => {
    if (err || !total) return;
    const a = Math.max(0, Math.floor(w.top / rowH) - OVERSCAN);
    const b = Math.min(total, Math.ceil((w.top + w.height) / rowH) + OVERSCAN);
    for (let p = Math.floor(a / PAGE); p <= Math.floor(Math.max(a, b - 1) / PAGE); p++) fetchPage(p);
  };
  useEffect(() => { want.current(win); });

  // Measure the real row height once rows are there.
  useEffect(() => {
    const tr = scroller.current && scroller.current.querySelector('tr.run-row');
    if (tr) {
      const h = tr.getBoundingClientRect().height;
      if (h > 10 && Math.abs(h - rowH) > 0.5) setRowH(h);
    }
  });

  const rowAt = (i) => {
    const page = data.current.pages.get(Math.floor(i / PAGE));
    return page ? page[i % PAGE] : undefined;
  };
  const visibleRuns = [];
  for (let i = first; i < last; i++) visibleRuns.push([i, rowAt(i)]);

  const sortedOn = (key) => (q.order ? q.order.key === key : key === 'attributes.start_time');
  const desc = q.order ? q.order.desc : true; // server default: start_time DESC
  // A header cell (a function, not a component: the cells stay mounted).
  const head = ({ key, label, sortKey, firstDesc, testid, cls = '' }) => {
    const active = sortKey && sortedOn(sortKey);
    return (
      <th key={key} scope="col" class={`${sortKey ? 'sortable ' : ''}${cls}${active ? ' sorted' : ''}`.trim()}
        aria-sort={active ? (desc ? 'descending' : 'ascending') : undefined}>
        {sortKey ? (
          <button type="button" class="sort-btn" data-testid={testid} data-order-key={sortKey} title={`Sort by ${label}`}
            onClick={() => sortBy(sortKey, firstDesc)}>
            {label}<span class="arrow">{active ? (desc ? ' ▼' : ' ▲') : ''}</span>
          </button>
        ) : <span data-testid={testid}>{label}</span>}
      </th>
    );
  };
  const attrs = cols.attrs.map((id) => ATTRS.find((a) => a.id === id));
  const nCols = 2 + attrs.length + cols.params.length + cols.metrics.length + cols.tags.length;
  const tableWidth = SEL_W + NAME_W + attrs.reduce((w, a) => w + a.width, 0) +
    cols.params.length * PARAM_W + cols.metrics.length * METRIC_W + cols.tags.length * TAG_W;
  // The loaded runs' ids, walked only when the header checkbox needs them
  // (not on every render: after a long scroll that is many pages).
  const loadedIds = () => [...data.current.pages.values()].flatMap((page) => page.map((r) => r.info.run_id));
  const loaded = data.current.loaded;
  const allSelected = loaded > 0 && selected.size >= loaded && loadedIds().every((id) => selected.has(id));
  const toggle = (id, on) => setSelected((prev) => {
    const s = new Set(prev);
    if (on) s.add(id); else s.delete(id);
    return s;
  });

  return (
    <>
      {err ? (
        <div class="error-slot">
          <ErrorBox err={err} testid="runs-error" title={q.filter && err.status === 400 ? 'Invalid filter' : 'Could not load runs'} />
        </div>
      ) : null}
      <div class="table-scroll runs-scroll" data-testid="runs-results" ref={scroller} tabIndex={0} aria-label="Runs">
        <table class="grid runs virtual" data-testid="runs-table" aria-rowcount={total + 2}
          style={{ width: `${tableWidth}px` }}>
          <colgroup>
            <col style={{ width: `${SEL_W}px` }} />
            <col style={{ width: `${NAME_W}px` }} />
            {attrs.map((a) => <col key={a.id} style={{ width: `${a.width}px` }} />)}
            {cols.params.map((k) => <col key={`p-${k}`} style={{ width: `${PARAM_W}px` }} />)}
            {cols.metrics.map((k) => <col key={`m-${k}`} style={{ width: `${METRIC_W}px` }} />)}
            {cols.tags.map((k) => <col key={`t-${k}`} style={{ width: `${TAG_W}px` }} />)}
          </colgroup>
          <thead>
            <tr class="group-row">
              <th class="sticky-col sel-col" />
              <th class="sticky-col name-col" />
              {attrs.length ? <th colSpan={attrs.length} /> : null}
              {cols.params.length ? <th colSpan={cols.params.length} class="group col-param first">Parameters</th> : null}
              {cols.metrics.length ? <th colSpan={cols.metrics.length} class="group col-metric first">Metrics</th> : null}
              {cols.tags.length ? <th colSpan={cols.tags.length} class="group col-tag first">Tags</th> : null}
            </tr>
            <tr class="head-row">
              <th scope="col" class="sticky-col sel-col">
                <input type="checkbox" aria-label="Select the loaded runs" data-testid="select-all" checked={allSelected}
                  onChange={(ev) => setSelected(ev.currentTarget.checked ? new Set(loadedIds()) : new Set())} />
              </th>
              {head({ key: 'name', label: 'Run name', sortKey: 'attributes.run_name', testid: 'col-run_name', cls: 'sticky-col name-col' })}
              {attrs.map((a) => head({ key: a.id, label: a.label, sortKey: a.sort, firstDesc: a.desc, testid: `col-${a.id}`, cls: a.num ? 'num' : '' }))}
              {cols.params.map((k, i) => head({ key: `p-${k}`, label: k, sortKey: `params.${quoteKey(k)}`, testid: `col-param-${k}`,
                cls: `col-param${i ? '' : ' first'}` }))}
              {cols.metrics.map((k, i) => head({ key: `m-${k}`, label: k, sortKey: `metrics.${quoteKey(k)}`, firstDesc: true,
                testid: `col-metric-${k}`, cls: `num col-metric${i ? '' : ' first'}` }))}
              {cols.tags.map((k, i) => head({ key: `t-${k}`, label: k, sortKey: `tags.${quoteKey(k)}`, testid: `col-tag-${k}`,
                cls: `col-tag${i ? '' : ' first'}` }))}
            </tr>
          </thead>
          <tbody>
            {first > 0 ? <tr class="spacer" aria-hidden="true" style={{ height: `${first * rowH}px` }}><td colSpan={nCols} /></tr> : null}
            {visibleRuns.map(([i, r]) => (r
              ? <RunRow key={r.info.run_id} index={i} run={r} attrs={attrs} cols={cols}
                selected={selected.has(r.info.run_id)} toggle={toggle} />
              : <tr key={`pending-${i}`} class="run-row pending" data-testid="run-row-pending" aria-rowindex={i + 3}>
                <td colSpan={nCols} class="muted">…</td>
              </tr>))}
            {last < total ? <tr class="spacer" aria-hidden="true" style={{ height: `${(total - last) * rowH}px` }}><td colSpan={nCols} /></tr> : null}
            {count === 0 && !err ? (
              <tr><td colSpan={nCols} class="muted empty" data-testid="runs-empty">
                {q.filter ? 'No runs match this filter.' : 'No runs in this experiment yet.'}
              </td></tr>
            ) : null}
          </tbody>
        </table>
      </div>
      <div class="table-footer">
        <span class="muted" data-testid="runs-count">
          {count === null ? 'Counting runs…' : `${count.toLocaleString('en-US')} run${count === 1 ? '' : 's'}`}
        </span>
      </div>
    </>
  );
}

function RunRow({ index, run, attrs, cols, selected, toggle }) {
  const info = run.info || {};
  const id = info.run_id;
  const data = run.data || {};
  const tags = tagMap(data.tags);
  const params = new Map((data.params || []).map((p) => [p.key, p.value]));
  const metrics = new Map((data.metrics || []).map((m) => [m.key, m]));
  const cell = (a) => {
    switch (a.id) {
      case 'status': return <td key="status"><StatusBadge status={info.status} /></td>;
      case 'start_time': return <td key="start" class="nowrap"><Time ms={info.start_time} /></td>;
      case 'end_time': return <td key="end" class="nowrap"><Time ms={info.end_time} /></td>;
      case 'duration': return <td key="dur" class="nowrap num">{info.status === 'RUNNING' && !info.end_time ? 'running' : runDuration(info)}</td>;
      case 'user_id': return <td key="user" class="trunc">{info.user_id || tags.get('mlflow.user') || ''}</td>;
      case 'run_id': return <td key="id" class="trunc mono" title={id}>{id}</td>;
      case 'source': return <td key="src" class="trunc" title={tags.get('mlflow.source.name') || ''}>{tags.get('mlflow.source.name') || ''}</td>;
      default: return <td key={a.id} />;
    }
  };
  return (
    <tr class={`run-row${selected ? ' selected' : ''}`} data-testid="run-row" data-run-id={id} aria-rowindex={index + 3}>
      <td class="sticky-col sel-col">
        <input type="checkbox" aria-label={`Select ${runName(run)}`} data-testid="run-select" checked={selected}
          onChange={(ev) => toggle(id, ev.currentTarget.checked)} />
      </td>
      <td class="run-name sticky-col name-col">
        <a href={route('runs', id)} data-testid="run-link" title={id}>{runName(run)}</a>
        {info.lifecycle_stage === 'deleted' ? <Chip cls="chip-bad">deleted</Chip> : null}
      </td>
      {attrs.map(cell)}
      {cols.params.map((k, i) => {
        const v = params.get(k);
        return <td key={`p-${k}`} class={`trunc col-param${i ? '' : ' first'}`} title={v ?? undefined} data-param={k}>{v ?? ''}</td>;
      })}
      {cols.metrics.map((k, i) => {
        const m = metrics.get(k);
        return <td key={`m-${k}`} class={`num col-metric${i ? '' : ' first'}`} data-metric={k}
          title={m ? `${m.value} (step ${m.step || 0})` : undefined}>{m ? fmtNumber(m.value) : ''}</td>;
      })}
      {cols.tags.map((k, i) => {
        const v = tags.get(k);
        return <td key={`t-${k}`} class={`trunc col-tag${i ? '' : ' first'}`} title={v ?? undefined} data-tag={k}>{v ?? ''}</td>;
      })}
    </tr>
  );
}

export const runsView = preactView(RunsPage, 'runsView');
