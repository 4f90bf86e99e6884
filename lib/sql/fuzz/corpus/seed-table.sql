CREATE TABLE sales.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES sales.customers (id),
  total numeric(12,2) NOT NULL CHECK (total >= 0)
);
COMMENT ON TABLE sales.orders IS $$one row per order$$;
CREATE INDEX orders_by_customer ON sales.orders (customer_id);
