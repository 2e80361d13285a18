using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OrderFlow.Payment.Data.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "payment_inbox",
                columns: table => new
                {
                    event_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    event_type = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    order_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    topic = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    partition = table.Column<int>(type: "INTEGER", nullable: false),
                    offset = table.Column<long>(type: "INTEGER", nullable: false),
                    processed_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_payment_inbox", x => x.event_id);
                });

            migrationBuilder.CreateTable(
                name: "payment_ledger",
                columns: table => new
                {
                    entry_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    order_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    kind = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    amount = table.Column<decimal>(type: "TEXT", nullable: false),
                    at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_payment_ledger", x => x.entry_id);
                });

            migrationBuilder.CreateTable(
                name: "payment_outbox",
                columns: table => new
                {
                    id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    event_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    event_type = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    event_version = table.Column<int>(type: "INTEGER", nullable: false),
                    topic = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    key = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    payload = table.Column<byte[]>(type: "BLOB", nullable: false),
                    traceparent = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_payment_outbox", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "payment_requests",
                columns: table => new
                {
                    order_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    user_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    amount = table.Column<decimal>(type: "TEXT", nullable: true),
                    reservation_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    cancel_requested = table.Column<bool>(type: "INTEGER", nullable: false),
                    cancel_reason = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    payment_id = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    reason = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true),
                    updated_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_payment_requests", x => x.order_id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_payment_inbox_order_id",
                table: "payment_inbox",
                column: "order_id");

            migrationBuilder.CreateIndex(
                name: "IX_payment_ledger_order_id",
                table: "payment_ledger",
                column: "order_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "payment_inbox");

            migrationBuilder.DropTable(
                name: "payment_ledger");

            migrationBuilder.DropTable(
                name: "payment_outbox");

            migrationBuilder.DropTable(
                name: "payment_requests");
        }
    }
}
