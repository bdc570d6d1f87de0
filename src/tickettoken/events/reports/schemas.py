"""Response shapes of the reports (money as strings with two places, periods as dates)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel

from tickettoken.kit.schema_types import DecimalText, MoneyText

GroupBy = Literal["day", "week", "month"]


class SalesFigures(BaseModel):
    orders: int
    tickets: int
    gross: MoneyText
    refunds: MoneyText
    net: MoneyText


class SalesPeriod(SalesFigures):
    period: date


class SalesReport(BaseModel):
    group_by: GroupBy
    periods: list[SalesPeriod]
    totals: SalesFigures


class VenueFigures(SalesFigures):
    venue_id: uuid.UUID
    name: str
    city: str | None
    events: int
    average_ticket_price: MoneyText


class VenueComparison(BaseModel):
    venues: list[VenueFigures]


class TopCustomer(BaseModel):
    customer_id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    orders: int
    tickets: int
    net: MoneyText


class CustomerInsights(BaseModel):
    customers: int
    buying_customers: int
    repeat_customers: int
    average_order_value: MoneyText
    average_tickets_per_order: DecimalText
    average_spend_per_customer: MoneyText
    net: MoneyText
    top_customers: list[TopCustomer]
