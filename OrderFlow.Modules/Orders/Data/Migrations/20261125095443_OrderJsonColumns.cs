using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OrderFlow.Orders.Data.Migrations
{
    /// <summary>
    /// <c>items</c> and <c>history</c> become NOT NULL (empty text where they were null). SQLite
    /// changes a column's nullability only by rebuilding the table. EF Core's own rebuild (what
    /// <c>AlterColumn</c> generated here until the twelfth session) brackets the DROP and RENAME with
    /// <c>PRAGMA foreign_keys</c>, which SQLite ignores inside a transaction, so EF Core commits
    /// around it: the rebuild ran as three transactions (copy; drop and rename; indexes), a process
    /// stopped between them left a store that no later start could migrate, and every new store
    /// logged EF Core's warning 20410 about it (dotnet/efcore#35871; the fix, PR 35873, was
    /// reverted in PR 38120). The same statements, written here, run in the migration's one
    /// transaction: no foreign key points at <c>orders_orders</c> (no module references another's
    /// tables, and Orders' own tables have none), so foreign keys need not be switched off. The
    /// resulting schema is the one EF Core's rebuild produced, statement for statement
    /// (<c>dotnet ef migrations script ShippingAddress OrderJsonColumns</c> on the earlier version).
    /// </summary>
    public partial class OrderJsonColumns : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder) => Rebuild(migrationBuilder, nullable: false);

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder) => Rebuild(migrationBuilder, nullable: true);

        private static void Rebuild(MigrationBuilder migrationBuilder, bool nullable)
        {
            var json = nullable ? "NULL" : "NOT NULL";
            migrationBuilder.Sql($"""
                CREATE TABLE "ef_temp_orders_orders" (
                    "order_id" TEXT NOT NULL CONSTRAINT "PK_orders_orders" PRIMARY KEY,
                    "created_at" TEXT NOT NULL,
                    "currency" TEXT NULL,
                    "history" TEXT {json},
                    "idempotency_key" TEXT NULL,
                    "items" TEXT {json},
                    "paid_at" TEXT NULL,
                    "payment_failure" TEXT NULL,
                    "payment_id" TEXT NULL,
                    "reason" TEXT NULL,
                    "request_hash" TEXT NULL,
                    "reservation_id" TEXT NULL,
                    "shipping_address" TEXT NULL,
                    "status" TEXT NOT NULL,
                    "terminal_at" TEXT NULL,
                    "total_amount" TEXT NOT NULL,
                    "traceparent" TEXT NOT NULL,
                    "updated_at" TEXT NOT NULL,
                    "user_id" TEXT NOT NULL,
                    "version" INTEGER NOT NULL
                );
                """);
            var history = nullable ? "\"history\"" : "IFNULL(\"history\", '')";
            var items = nullable ? "\"items\"" : "IFNULL(\"items\", '')";
            migrationBuilder.Sql($"""
                INSERT INTO "ef_temp_orders_orders" ("order_id", "created_at", "currency", "history", "idempotency_key", "items", "paid_at", "payment_failure", "payment_id", "reason", "request_hash", "reservation_id", "shipping_address", "status", "terminal_at", "total_amount", "traceparent", "updated_at", "user_id", "version")
                SELECT "order_id", "created_at", "currency", {history}, "idempotency_key", {items}, "paid_at", "payment_failure", "payment_id", "reason", "request_hash", "reservation_id", "shipping_address", "status", "terminal_at", "total_amount", "traceparent", "updated_at", "user_id", "version"
                FROM "orders_orders";
                """);
            migrationBuilder.Sql("""DROP TABLE "orders_orders";""");
            migrationBuilder.Sql("""ALTER TABLE "ef_temp_orders_orders" RENAME TO "orders_orders";""");
            migrationBuilder.Sql("""CREATE INDEX "IX_orders_orders_created_at" ON "orders_orders" ("created_at");""");
            migrationBuilder.Sql("""CREATE UNIQUE INDEX "IX_orders_orders_idempotency_key" ON "orders_orders" ("idempotency_key");""");
            migrationBuilder.Sql("""CREATE INDEX "IX_orders_orders_status_created_at" ON "orders_orders" ("status", "created_at");""");
            migrationBuilder.Sql("""CREATE INDEX "IX_orders_orders_terminal_at" ON "orders_orders" ("terminal_at");""");
        }
    }
}
