// Order checkout: validates every line of a cart.
import { eachItem } from "tiny-each";

export function validateItem(item) {
  if (item.quantity > item.stock) {
    throw new RangeError(`only ${item.stock} of ${item.sku} left`);
  }
  return item.quantity * item.price;
}

export function checkout(cart) {
  let total = 0;
  eachItem(cart.items, (item) => {
    total += validateItem(item);
  });
  return total;
}

export const CART = {
  items: [
    { sku: "A1", quantity: 1, stock: 5, price: 3 },
    { sku: "B2", quantity: 4, stock: 2, price: 9 },
  ],
};
