/** A small element builder: text is always set as text (never parsed as HTML), so API values cannot inject markup. */
type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, string | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (name === 'class') element.className = value;
    else element.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/** A <select> with these [value, label] options, `selected` chosen. */
export function select(name: string, options: readonly (readonly [string, string])[], selected: string, label: string): HTMLSelectElement {
  const element = el('select', { name, 'aria-label': label });
  for (const [value, text] of options) {
    const option = el('option', { value }, text);
    option.selected = value === selected;
    element.append(option);
  }
  return element;
}
