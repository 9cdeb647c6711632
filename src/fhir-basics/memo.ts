// One value per object, built on first use and kept as long as the object lives (a WeakMap).

export function memoByObject<K extends object, V>(make: (key: K) => V): (key: K) => V {
  const values = new WeakMap<K, V>();
  return (key) => {
    let v = values.get(key);
    if (v === undefined) {
      v = make(key);
      values.set(key, v);
    }
    return v;
  };
}
