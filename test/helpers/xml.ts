/**
 * A small XML well-formedness check (no DOM in Node): one root element, tags nested and closed in order, attributes
 * quoted and not repeated, only the five predefined entities and character references, no stray `<` or `&`.
 * Returns the problems found (empty: well-formed) and the text content, for "does it show this name" checks.
 */
export function checkXml(doc: string): { errors: string[]; text: string; elements: { name: string; attrs: Record<string, string> }[] } {
  const errors: string[] = [];
  const elements: { name: string; attrs: Record<string, string> }[] = [];
  const stack: string[] = [];
  let text = '';
  let roots = 0;
  let i = 0;
  const entity = (s: string, at: number) => {
    for (const m of s.matchAll(/&([^;\s]*);?/g)) {
      if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(m[0])) errors.push(`bad entity ${JSON.stringify(m[0])} near ${at}`);
    }
  };
  const decode = (s: string) =>
    s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_m, e: string) =>
      e === 'amp'
        ? '&'
        : e === 'lt'
          ? '<'
          : e === 'gt'
            ? '>'
            : e === 'quot'
              ? '"'
              : e === 'apos'
                ? "'"
                : e.startsWith('#x')
                  ? String.fromCodePoint(parseInt(e.slice(2), 16))
                  : String.fromCodePoint(Number(e.slice(1))),
    );
  if (doc.startsWith('<?xml')) i = doc.indexOf('?>') + 2;
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    const chunk = doc.slice(i, lt === -1 ? doc.length : lt);
    if (chunk.trim() && !stack.length) errors.push(`text outside the root element near ${i}`);
    entity(chunk, i);
    text += decode(chunk) + (chunk ? '\n' : '');
    if (lt === -1) break;
    const gt = doc.indexOf('>', lt);
    if (gt === -1) {
      errors.push(`unclosed tag at ${lt}`);
      break;
    }
    const tag = doc.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('!--')) {
      if (!tag.endsWith('--')) errors.push(`bad comment at ${lt}`);
      continue;
    }
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) errors.push(`</${name}> closes <${open ?? 'nothing'}> at ${lt}`);
      continue;
    }
    const self = tag.endsWith('/');
    const body = self ? tag.slice(0, -1) : tag;
    const m = /^([A-Za-z_][\w.:-]*)([\s\S]*)$/.exec(body);
    if (!m) {
      errors.push(`bad tag ${JSON.stringify(tag.slice(0, 40))} at ${lt}`);
      continue;
    }
    const attrs: Record<string, string> = {};
    let rest = m[2]!;
    for (;;) {
      rest = rest.replace(/^\s+/, '');
      if (!rest) break;
      const a = /^([A-Za-z_][\w.:-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/.exec(rest);
      if (!a) {
        errors.push(`bad attribute in <${m[1]}>: ${JSON.stringify(rest.slice(0, 40))}`);
        break;
      }
      if (a[1]! in attrs) errors.push(`attribute ${a[1]} twice in <${m[1]}>`);
      const v = a[3] ?? a[4] ?? '';
      entity(v, lt);
      attrs[a[1]!] = decode(v);
      rest = rest.slice(a[0].length);
    }
    if (!stack.length) roots++;
    elements.push({ name: m[1]!, attrs });
    if (!self) stack.push(m[1]!);
  }
  if (stack.length) errors.push(`unclosed elements: ${stack.join(' > ')}`);
  if (roots !== 1) errors.push(`${roots} root elements`);
  return { errors, text, elements };
}
