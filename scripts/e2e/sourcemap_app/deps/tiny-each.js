// A dependency as it would sit under node_modules: calls back once per item.
export function eachItem(items, visit) {
  for (let i = 0; i < items.length; i++) {
    visit(items[i], i);
  }
}
