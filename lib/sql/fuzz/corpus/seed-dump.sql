-- A shop schema for tests of the SQL model and impact analysis: 46 objects.
-- Each object's definition starts at a line "--- <object id>".

--- schema:shop
CREATE SCHEMA shop;

--- type:shop.order_status
CREATE TYPE shop.order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');

--- domain:shop.email
CREATE DOMAIN shop.email AS text CHECK (VALUE ~ '^[^@]+@[^@]+$');

--- type:shop.address
CREATE TYPE shop.address AS (street text, city text, zip text);

--- sequence:shop.invoice_no_seq
CREATE SEQUENCE shop.invoice_no_seq START 1000;

--- table:shop.customers
CREATE TABLE shop.customers (
  id bigserial PRIMARY KEY,
  email shop.email NOT NULL UNIQUE,
  name text NOT NULL,
  region text,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE shop.customers IS 'People who buy';
COMMENT ON COLUMN shop.customers.region IS 'Sales region';

--- table:shop.categories
CREATE TABLE shop.categories (
  id serial PRIMARY KEY,
  name text NOT NULL,
  parent_id int REFERENCES shop.categories (id)
);

--- table:shop.products
CREATE TABLE shop.products (
  id serial PRIMARY KEY,
  sku text NOT NULL UNIQUE,
  name text NOT NULL,
  price numeric(12,2) NOT NULL CHECK (price >= 0),
  category_id int REFERENCES shop.categories (id)
);

--- table:shop.orders
CREATE TABLE shop.orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES shop.customers (id),
  status shop.order_status NOT NULL DEFAULT 'new',
  placed_at timestamptz NOT NULL DEFAULT now(),
  ship_to shop.address,
  note varchar(200)
);

--- table:shop.order_items
CREATE TABLE shop.order_items (
  order_id bigint NOT NULL REFERENCES shop.orders (id),
  product_id int NOT NULL REFERENCES shop.products (id),
  qty int NOT NULL CHECK (qty > 0),
  unit_price numeric(12,2) NOT NULL,
  PRIMARY KEY (order_id, product_id)
);

--- table:shop.invoices
CREATE TABLE shop.invoices (
  id bigint PRIMARY KEY DEFAULT nextval('shop.invoice_no_seq'),
  order_id bigint NOT NULL REFERENCES shop.orders (id),
  amount numeric(12,2),
  issued_at timestamptz NOT NULL DEFAULT now()
);

--- table:shop.payments
CREATE TABLE shop.payments (
  id bigserial PRIMARY KEY,
  invoice_id bigint NOT NULL REFERENCES shop.invoices (id),
  amount numeric(12,2) NOT NULL,
  method text NOT NULL,
  paid_at timestamptz
);

--- table:shop.warehouses
CREATE TABLE shop.warehouses (
  id serial PRIMARY KEY,
  name text NOT NULL,
  manager_id int
);
ALTER TABLE shop.warehouses
  ADD CONSTRAINT warehouses_manager_fk FOREIGN KEY (manager_id) REFERENCES shop.employees (id);

--- table:shop.employees
CREATE TABLE shop.employees (
  id serial PRIMARY KEY,
  name text NOT NULL,
  warehouse_id int CONSTRAINT employees_warehouse_fk REFERENCES shop.warehouses (id)
);

--- table:shop.stock
CREATE TABLE shop.stock (
  warehouse_id int NOT NULL REFERENCES shop.warehouses (id),
  product_id int NOT NULL REFERENCES shop.products (id),
  qty int NOT NULL DEFAULT 0,
  PRIMARY KEY (warehouse_id, product_id)
);

--- table:shop.audit_log
CREATE TABLE shop.audit_log (
  id bigserial PRIMARY KEY,
  table_name text NOT NULL,
  row_id bigint,
  action text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);

--- table:shop.shipments
CREATE TABLE shop.shipments (
  id serial PRIMARY KEY,
  order_id bigint NOT NULL REFERENCES shop.orders (id),
  warehouse_id int NOT NULL REFERENCES shop.warehouses (id),
  shipped_at timestamptz,
  tracking text
);

--- table:shop.price_history
CREATE TABLE shop.price_history (
  product_id int NOT NULL REFERENCES shop.products (id),
  price numeric(12,2) NOT NULL,
  valid_from date NOT NULL
);

--- table:shop.coupons
CREATE TABLE shop.coupons (
  code text PRIMARY KEY,
  percent int NOT NULL CHECK (percent BETWEEN 1 AND 90)
);

--- table:shop.customer_notes
CREATE TABLE shop.customer_notes (
  customer_id bigint NOT NULL REFERENCES shop.customers (id),
  note text NOT NULL
);

--- table:shop.support_tickets
CREATE TABLE shop.support_tickets (
  id bigint NOT NULL,
  customer_id bigint REFERENCES shop.customers (id),
  subject text NOT NULL,
  opened_at timestamptz NOT NULL DEFAULT now()
);

--- sequence:shop.ticket_seq
CREATE SEQUENCE shop.ticket_seq OWNED BY shop.support_tickets.id;

--- view:shop.order_totals
CREATE VIEW shop.order_totals AS
  SELECT o.id AS order_id, o.customer_id, sum(i.qty * i.unit_price) AS total
  FROM shop.orders o
  JOIN shop.order_items i ON i.order_id = o.id
  GROUP BY o.id, o.customer_id;

--- view:shop.customer_revenue
CREATE VIEW shop.customer_revenue AS
  SELECT c.id, c.name, t.total
  FROM shop.customers c
  JOIN shop.order_totals t ON t.customer_id = c.id;

--- view:shop.top_customers
CREATE VIEW shop.top_customers AS
  SELECT * FROM shop.customer_revenue WHERE total > 1000;

--- view:shop.open_orders
CREATE VIEW shop.open_orders AS
  SELECT id, customer_id, placed_at FROM shop.orders WHERE status <> 'shipped';

--- view:shop.product_stock
CREATE VIEW shop.product_stock AS
  WITH s AS (SELECT product_id, sum(qty) AS on_hand FROM shop.stock GROUP BY product_id)
  SELECT p.sku, p.name, s.on_hand
  FROM shop.products p LEFT JOIN s ON s.product_id = p.id;

--- view:shop.unpaid_invoices
CREATE VIEW shop.unpaid_invoices AS
  SELECT i.id, i.amount
  FROM shop.invoices i
  WHERE NOT EXISTS (SELECT 1 FROM shop.payments p WHERE p.invoice_id = i.id);

--- view:shop.customer_emails
CREATE VIEW shop.customer_emails AS SELECT id, email FROM shop.customers;

--- materialized_view:shop.daily_sales
CREATE MATERIALIZED VIEW shop.daily_sales AS
  SELECT date_trunc('day', o.placed_at) AS day, sum(t.total) AS revenue
  FROM shop.orders o JOIN shop.order_totals t ON t.order_id = o.id
  GROUP BY 1;

--- view:shop.recent_shipments
CREATE VIEW shop.recent_shipments AS
  SELECT s.id, s.tracking, w.name AS warehouse
  FROM shop.shipments s JOIN shop.warehouses w ON w.id = s.warehouse_id
  WHERE s.shipped_at > now() - interval '7 days';

--- function:shop.order_total(bigint)
CREATE FUNCTION shop.order_total(bigint) RETURNS numeric
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(qty * unit_price), 0) FROM shop.order_items WHERE order_id = $1
$$;

--- function:shop.customer_level(bigint)
CREATE FUNCTION shop.customer_level(p_customer bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  spent numeric;
BEGIN
  SELECT total INTO spent FROM shop.customer_revenue WHERE id = p_customer;
  IF spent > 10000 THEN
    RETURN 'gold';
  END IF;
  RETURN 'standard';
END
$$;

--- function:shop.apply_coupon(text,numeric)
CREATE FUNCTION shop.apply_coupon(p_code text, p_amount numeric) RETURNS numeric
LANGUAGE sql STABLE AS $$
  SELECT p_amount * (100 - percent) / 100 FROM shop.coupons WHERE code = p_code
$$;

--- function:shop.log_change()
CREATE FUNCTION shop.log_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO shop.audit_log (table_name, row_id, action) VALUES (TG_TABLE_NAME, NEW.id, TG_OP);
  RETURN NEW;
END
$$;

--- function:shop.set_invoice_amount()
CREATE FUNCTION shop.set_invoice_amount() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.amount := shop.order_total(NEW.order_id);
  RETURN NEW;
END
$$;

--- procedure:shop.refresh_sales()
CREATE PROCEDURE shop.refresh_sales()
LANGUAGE plpgsql AS $$
BEGIN
  REFRESH MATERIALIZED VIEW shop.daily_sales;
END
$$;

--- function:shop.customer_summary(bigint)
CREATE FUNCTION shop.customer_summary(bigint) RETURNS TABLE (order_count bigint, last_order timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT count(*), max(placed_at) FROM shop.orders WHERE customer_id = $1
$$;

--- function:shop.ship_order(bigint,integer)
CREATE FUNCTION shop.ship_order(p_order bigint, p_warehouse int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE shop.orders SET status = 'shipped' WHERE id = p_order;
  INSERT INTO shop.shipments (order_id, warehouse_id, shipped_at) VALUES (p_order, p_warehouse, now());
  PERFORM shop.notify_carrier(p_order);
END
$$;

--- view:shop.customer_levels
CREATE VIEW shop.customer_levels AS
  SELECT c.id, shop.customer_level(c.id) AS level FROM shop.customers c;

--- trigger:shop.orders.orders_audit
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE ON shop.orders
  FOR EACH ROW EXECUTE FUNCTION shop.log_change();

--- trigger:shop.invoices.invoices_amount
CREATE TRIGGER invoices_amount BEFORE INSERT ON shop.invoices
  FOR EACH ROW EXECUTE FUNCTION shop.set_invoice_amount();

--- trigger:shop.payments.payments_audit
CREATE TRIGGER payments_audit AFTER INSERT ON shop.payments
  FOR EACH ROW WHEN (NEW.amount > 0) EXECUTE FUNCTION shop.log_change();

--- index:shop.orders_customer_idx
CREATE INDEX orders_customer_idx ON shop.orders (customer_id);

--- index:shop.products_lower_name_idx
CREATE INDEX products_lower_name_idx ON shop.products (lower(name));

--- index:shop.payments_open_idx
CREATE INDEX payments_open_idx ON shop.payments (invoice_id) WHERE paid_at IS NULL;
