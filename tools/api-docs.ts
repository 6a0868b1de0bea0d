// Generates docs/API.md and the props tables of docs/configuration.md from the JSDoc of the public API
// (everything src/index.ts exports that is not marked internal), so that the reference and the
// README can never drift from the code.
//
//   npm run docs            write docs/API.md and the configuration tables
//   npm run docs -- --check exit 1 (and say which) when either is out of date (the unit tests do this)
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import * as ts from 'typescript';

const ROOT = join(__dirname, '..');
const INDEX = join(ROOT, 'src', 'index.ts');
/** docs/configuration.md sections `<!-- props:Name -->` ... `<!-- /props -->` hold the table of that interface. */
const README_MARKER = /<!-- props:([A-Za-z]+) -->\n[\s\S]*?<!-- \/props -->/g;

interface Member { name: string; type: string; doc: string; dflt?: string; optional: boolean }
interface Entry {
  name: string; kind: 'class' | 'interface' | 'type' | 'function' | 'const'; doc: string; file: string; members: Member[];
  signature?: string;
}

function jsDocText(node: ts.Node): { doc: string; tags: Record<string, string> } {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  const doc = docs.map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join('\n').trim();
  const tags: Record<string, string> = {};
  for (const tag of ts.getJSDocTags(node)) tags[tag.tagName.text] = (ts.getTextOfJSDocComment(tag.comment) ?? '').trim();
  return { doc: doc.replace(/\s*\n\s*/g, ' '), tags };
}

function isInternal(node: ts.Node): boolean {
  return ts.getJSDocTags(node).some((t) => t.tagName.text === 'internal');
}

/** Every public declaration exported from src/index.ts, with its members. */
export function collect(): Entry[] {
  const program = ts.createProgram([INDEX], {
    strict: true, target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.CommonJS, skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(INDEX)!)!;
  const entries: Entry[] = [];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const decl = symbol.declarations?.[0];
    if (!decl || isInternal(decl)) continue;
    const file = decl.getSourceFile().fileName.slice(ROOT.length + 1);
    const { doc } = jsDocText(decl);
    if (ts.isInterfaceDeclaration(decl)) {
      const type = checker.getDeclaredTypeOfSymbol(symbol);
      entries.push({
        name: symbol.name, kind: 'interface', doc, file, members: checker.getPropertiesOfType(type).map((p) => member(checker, p)),
      });
    } else if (ts.isClassDeclaration(decl)) {
      const type = checker.getDeclaredTypeOfSymbol(symbol);
      const members = checker.getPropertiesOfType(type).filter((p) => {
        const d = p.valueDeclaration;
        return d && !isInternal(d)
          && !(ts.getCombinedModifierFlags(d as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected))
          && (ts.isPropertyDeclaration(d) || ts.isGetAccessorDeclaration(d)) && d.parent === decl;
      }).map((p) => member(checker, p));
      const ctor = decl.members.find(ts.isConstructorDeclaration);
      const signature = ctor ? `new ${symbol.name}(${ctor.parameters.map((p) => p.getText()).join(', ')})` : undefined;
      entries.push({ name: symbol.name, kind: 'class', doc, file, members, signature });
    } else if (ts.isTypeAliasDeclaration(decl)) {
      entries.push({ name: symbol.name, kind: 'type', doc, file, members: [], signature: `type ${symbol.name} = ${decl.type.getText()}` });
    } else if (ts.isFunctionDeclaration(decl)) {
      entries.push({
        name: symbol.name, kind: 'function', doc, file, members: [],
        signature: `${symbol.name}${checker.signatureToString(checker.getSignatureFromDeclaration(decl)!)}`,
      });
    } else if (ts.isVariableDeclaration(decl)) {
      const statement = decl.parent.parent;
      entries.push({
        name: symbol.name, kind: 'const', doc: jsDocText(statement).doc, file, members: [],
        signature: `const ${symbol.name}: ${checker.typeToString(checker.getTypeOfSymbol(symbol))}`,
      });
    }
  }
  const order = { class: 0, interface: 1, type: 2, function: 3, const: 4 };
  return entries.sort((a, b) => order[a.kind] - order[b.kind] || a.name.localeCompare(b.name));
}

function member(checker: ts.TypeChecker, p: ts.Symbol): Member {
  const d = p.valueDeclaration ?? p.declarations![0];
  const { doc, tags } = jsDocText(d);
  const type = checker.typeToString(checker.getTypeOfSymbolAtLocation(p, d), undefined, ts.TypeFormatFlags.NoTruncation);
  const dflt = tags.default?.replace(/^-\s*/, '');
  return { name: p.name, type: type.replace(/ \| undefined$/, ''), doc, dflt, optional: (p.flags & ts.SymbolFlags.Optional) !== 0 };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderApi(entries: Entry[]): string {
  const out = [
    '# API reference',
    '',
    '<!-- Generated from the JSDoc by tools/api-docs.ts (`npm run docs`); do not edit by hand. -->',
    '',
    'Everything the package root (`cdk8s-galera-proxysql`) exports. Props marked optional take the default shown.',
    '',
  ];
  const titles = {
    class: 'Constructs and classes', interface: 'Props and interfaces', type: 'Types', function: 'Functions', const: 'Constants',
  };
  let kind = '';
  for (const e of entries) {
    if (e.kind !== kind) {
      kind = e.kind;
      out.push(`## ${titles[e.kind]}`, '');
    }
    out.push(`### ${e.name}`, '', `*${e.file}*`, '');
    if (e.doc) out.push(e.doc, '');
    if (e.signature) out.push('```ts', e.signature, '```', '');
    if (e.members.length > 0) {
      out.push(e.kind === 'interface' ? '| prop | type | default | meaning |' : '| property | type | meaning |');
      out.push(e.kind === 'interface' ? '|---|---|---|---|' : '|---|---|---|');
      for (const m of e.members) {
        const name = `\`${m.name}\`${m.optional ? '' : ' (required)'}`;
        out.push(e.kind === 'interface'
          ? `| ${name} | \`${cell(m.type)}\` | ${cell(m.dflt ?? (m.optional ? '' : '—'))} | ${cell(m.doc)} |`
          : `| \`${m.name}\` | \`${cell(m.type)}\` | ${cell(m.doc)} |`);
      }
      out.push('');
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** The configuration table of one props interface: key, default, meaning. */
export function renderPropsTable(entry: Entry): string {
  const rows = entry.members.map((m) => `| \`${m.name}\` | ${cell(m.dflt ?? '')} | ${cell(m.doc)} |`);
  return ['| key | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

export function renderReadme(readme: string, entries: Entry[]): string {
  return readme.replace(README_MARKER, (_m, name: string) => {
    const entry = entries.find((e) => e.name === name && e.kind === 'interface');
    if (!entry) throw new Error(`docs/configuration.md names props:${name}, which is not an exported interface`);
    return `<!-- props:${name} -->\n${renderPropsTable(entry)}\n<!-- /props -->`;
  });
}

if (require.main === module) {
  const check = process.argv.includes('--check');
  const entries = collect();
  const targets: [string, string][] = [
    [join(ROOT, 'docs', 'API.md'), renderApi(entries)],
    [join(ROOT, 'docs', 'configuration.md'), renderReadme(readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8'), entries)],
  ];
  let stale = 0;
  for (const [file, text] of targets) {
    let current = '';
    try { current = readFileSync(file, 'utf8'); } catch { /* new */ }
    if (current === text) continue;
    if (check) {
      console.error(`${file.slice(ROOT.length + 1)} is out of date: run npm run docs`);
      stale += 1;
    } else {
      writeFileSync(file, text);
      console.log(`wrote ${file.slice(ROOT.length + 1)}`);
    }
  }
  process.exit(stale > 0 ? 1 : 0);
}
